from django.contrib import admin, messages
from django.contrib.admin import options
from django.db import models

from common.calendar import uncovered_years
from common.forms import PlainDecimalField
from common.models import BusinessSettings, CalendarOverride

# Every admin form takes decimals in plain notation, as the portal's forms do (no "1e3",
# no full-width digits). The admin copies these defaults into each ModelAdmin it registers
# and each inline it builds; the apps' admin modules are imported after this one.
options.FORMFIELD_FOR_DBFIELD_DEFAULTS[models.DecimalField] = {"form_class": PlainDecimalField}


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):
    list_display = ["day", "is_working_day", "note"]
    list_editable = ["is_working_day", "note"]
    list_filter = ["is_working_day"]
    date_hierarchy = "day"
    search_fields = ["note"]

    def changelist_view(self, request, extra_context=None):
        from django.utils import timezone
        from django.utils.translation import gettext as _

        year = timezone.localdate().year
        missing = uncovered_years(year, year + 1)
        if missing:
            messages.warning(
                request,
                _(
                    "No holiday calendar is loaded for %(years)s: Monday to Friday count as "
                    "working days there and due dates are marked provisional. Add the State "
                    "Council's holidays and make-up working days here."
                )
                % {"years": ", ".join(map(str, missing))},
            )
        return super().changelist_view(request, extra_context)


@admin.register(BusinessSettings)
class BusinessSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return not BusinessSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
