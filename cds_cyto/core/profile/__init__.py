"""The evaluation profile: every clinical number, code list and rule text, loaded from the cited data files.

`load_profile()` is the one loader (`load.py`); `site_file.py` refuses a site file's mistakes; `risk_tables.py`
types the risk tables; `site_model.py` reads a site model artifact. The core receives a `Profile` as an argument.
"""

from cds_cyto.core.profile.load import (
    LINEAGES,
    AnalyteDef,
    Band,
    CtcaeTerm,
    DefinitionProfile,
    Dimension,
    EventKind,
    IcahtRules,
    Profile,
    ProfileError,
    RecoveryRule,
    RuleDef,
    default_profile,
    load_profile,
    with_site_model,
)

__all__ = [
    "LINEAGES",
    "AnalyteDef",
    "Band",
    "CtcaeTerm",
    "DefinitionProfile",
    "Dimension",
    "EventKind",
    "IcahtRules",
    "Profile",
    "ProfileError",
    "RecoveryRule",
    "RuleDef",
    "default_profile",
    "load_profile",
    "with_site_model",
]
