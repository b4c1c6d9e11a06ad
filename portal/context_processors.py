from django.conf import settings

from common import roles
from portal import navigation


def navbar(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    names = roles.role_names(user)
    return {
        "nav_items": navigation.items_for(user, request.path),
        "user_role_labels": [label for role, label in roles.ROLE_LABELS.items() if role in names],
        "user_is_admin": roles.is_admin(user),
        # The field app takes the day along for those whose agenda is theirs (officers).
        "field_app": roles.is_loan_officer(user),
        "admin_url": "/" + settings.ADMIN_URL,
    }
