"""Post-loan models, one module per part of the business; all importable from here."""

from postloan.models.classification import *  # noqa: F403
from postloan.models.classification import TIER_CHOICES, TIER_VALUES, _tier_check  # noqa: F401
from postloan.models.dashboard import *  # noqa: F403
from postloan.models.field import *  # noqa: F403
from postloan.models.inspections import *  # noqa: F403
from postloan.models.inspections import POLICY_KINDS  # noqa: F401
from postloan.models.nightly import *  # noqa: F403
from postloan.models.visits import *  # noqa: F403
from postloan.models.visits import CHECKLIST, COLLATERAL_ITEM, GUARANTOR_ITEM  # noqa: F401
