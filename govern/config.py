"""Settings: one pydantic-settings class, ``GOVERN_`` environment variables, an optional TOML file.

Precedence, highest first: explicit overrides (command-line options), ``GOVERN_*`` environment
variables, the TOML config file (``GOVERN_CONFIG_FILE``, else ``$GOVERN_HOME/config.toml``),
then the defaults below.
"""

from __future__ import annotations

import getpass
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from govern.domain.comparison import GATED_METRICS
from govern.domain.roles import RiskTier, Role
from govern.errors import ConfigError
from govern.locations import default_home

DEFAULT_DATABASE_URL = "sqlite:///govern.db"

DEFAULT_APPROVALS_BY_TIER = {"low": 1, "medium": 1, "high": 2, "critical": 2}
DEFAULT_REVALIDATION_MONTHS_BY_TIER = {"low": 36, "medium": 24, "high": 12, "critical": 12}
#: Who may take each workflow action (``request_changes`` is what validators do).
DEFAULT_WORKFLOW_ROLES = {
    "submit": ["developer", "admin"],
    "request_changes": ["validator", "approver", "compliance"],
    "reject": ["validator", "approver", "compliance"],
    "approve": ["approver", "compliance"],
    "deploy": ["approver", "admin"],
    "retire": ["approver", "admin"],
    "waive": ["approver", "compliance", "admin"],
}
_TIERS = [str(t) for t in RiskTier]
_ROLES = [str(r) for r in Role]


def _known(kind: str, names: list[str], allowed: list[str]) -> None:
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; use {', '.join(allowed)}"
        )


#: Types a skops artifact may contain beyond skops' own defaults. Taken from our
#: configuration, never from the artifact itself (DESIGN.md section 11).
DEFAULT_SKOPS_TRUSTED_TYPES = [
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.ensemble._gb_losses.BinomialDeviance",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.dummy.DummyClassifier",
    # skops does not trust the fitted tree structures by default; every tree ensemble needs them
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",
    "builtins.slice",
]


class Settings(BaseSettings):
    """Everything configurable in govern. Each field has a ``GOVERN_<FIELD>`` variable."""

    model_config = SettingsConfigDict(
        env_prefix="GOVERN_", extra="forbid", validate_default=True, frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    user: str = ""
    home: Path = Field(default_factory=default_home)
    key_dir: Path | None = None
    key_passphrase: SecretStr | None = None
    #: Signer (or CA) certificates that ``govern verify`` trusts besides the instance's own.
    #: In the environment: paths separated by ``os.pathsep`` (like PATH), or a JSON list.
    trusted_certificates: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    template_dir: Path | None = None
    debug: bool = False

    max_card_bytes: int = 1_000_000
    max_policy_bytes: int = 1_000_000
    max_data_bytes: int = 2_000_000_000

    skops_trusted_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKOPS_TRUSTED_TYPES)
    )
    min_group_size: int = 30
    max_groups: int = 1_000
    explain_sample: int = 1_000
    #: Rows of background data for SHAP's linear and model-agnostic explainers.
    explain_background: int = 100
    #: A sensitive feature, or a feature associated with one at least this strongly (Cramér's
    #: V or correlation ratio), among this many top features is flagged.
    explain_top_k: int = 10
    association_threshold: float = 0.5
    #: Bins of the Population Stability Index for numeric features (reference quantiles).
    drift_bins: int = 10

    #: Approvals a version needs by risk tier. A partial table (``{high = 3}``) changes only
    #: the tiers it names; the others keep their defaults. Same for the next two tables.
    approvals_by_tier: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_APPROVALS_BY_TIER)
    )
    #: Months from approval to the next validation, by risk tier.
    revalidation_months_by_tier: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_REVALIDATION_MONTHS_BY_TIER)
    )
    #: Tiers whose approval must include at least one user with the compliance role.
    compliance_approval_tiers: list[str] = Field(default_factory=lambda: ["critical"])
    #: Who may take each workflow action (roles are enforced in services, for every front end).
    workflow_roles: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_WORKFLOW_ROLES.items()}
    )
    #: Promotion gate: how much worse than the champion a challenger may be, per metric.
    #: Higher-is-better metrics may drop by at most the delta; gaps may grow by at most it.
    promotion_max_regression: dict[str, float] = Field(
        default_factory=lambda: {
            "accuracy": 0.02,
            "roc_auc": 0.02,
            "min_impact_ratio": 0.05,
            "demographic_parity_difference": 0.05,
            "equalized_odds_difference": 0.05,
        }
    )
    #: ``govern due`` lists versions due for re-validation within this many days.
    due_soon_days: int = 30
    #: Longest a waiver may last (``govern waive --expires``), in days from the day it is
    #: granted: an exception is reviewed again, never granted for good.
    max_waiver_days: int = Field(default=365, ge=1)
    #: Policies bound to a version: what ``govern check REF`` runs without --policy and what
    #: approval and deployment re-check. Keys: ``*`` (every version), ``tier:NAME``,
    #: ``tag:NAME`` or ``scope:NAME`` (from the card's governance section); values: policy
    #: files, directories or shipped pack names.
    policy_bindings: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "*": ["baseline"],
            "scope:eu-ai-act-high-risk": ["eu-ai-act-high-risk"],
            "scope:sr-26-2": ["model-risk"],
            "scope:nyc-ll144": ["nyc-ll144"],
            "scope:eeoc": ["eeoc-four-fifths"],
            "scope:nist-ai-rmf": ["nist-ai-rmf"],
        }
    )

    @field_validator("approvals_by_tier", "revalidation_months_by_tier")
    @classmethod
    def _tier_table(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        # A typo here would silently fall back to a default; a zero would waive approvals
        # or make every approval due at once.
        _known("risk tier", list(value), _TIERS)
        low = [f"{tier}={count}" for tier, count in value.items() if count < 1]
        if low:
            raise ValueError(f"every tier needs at least 1, not {', '.join(low)}")
        defaults = (
            DEFAULT_APPROVALS_BY_TIER
            if info.field_name == "approvals_by_tier"
            else DEFAULT_REVALIDATION_MONTHS_BY_TIER
        )
        return {**defaults, **value}

    @field_validator("compliance_approval_tiers")
    @classmethod
    def _compliance_tiers(cls, value: list[str]) -> list[str]:
        _known("risk tier", value, _TIERS)
        return value

    @field_validator("workflow_roles")
    @classmethod
    def _workflow_roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _known("workflow action", list(value), list(DEFAULT_WORKFLOW_ROLES))
        for action, roles in value.items():
            if not roles:
                raise ValueError(f"{action}: name at least one role that may take this action")
            _known(f"role for {action}:", roles, _ROLES)
        return {**{k: list(v) for k, v in DEFAULT_WORKFLOW_ROLES.items()}, **value}

    @field_validator("promotion_max_regression")
    @classmethod
    def _promotion_gate(cls, value: dict[str, float]) -> dict[str, float]:
        # A misspelt metric would silently drop out of the gate and let a worse model through.
        _known("metric", list(value), sorted(GATED_METRICS))
        negative = [f"{metric}={delta}" for metric, delta in value.items() if delta < 0]
        if negative:
            raise ValueError(f"a regression allowance cannot be negative: {', '.join(negative)}")
        return value

    @field_validator("due_soon_days")
    @classmethod
    def _due_window(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more days")
        return value

    @field_validator("trusted_certificates", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part.strip()]
        return value

    @field_validator("user")
    @classmethod
    def _strip_user(cls, value: str) -> str:
        value = value.strip()
        # The catalogue stores actors in 100-character columns; PostgreSQL enforces that.
        if len(value) > 100 or not value.isprintable():
            raise ValueError("a user name is at most 100 printable characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = config_file_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir if self.key_dir is not None else self.home / "keys"

    @property
    def actor(self) -> str:
        """Who is acting: ``--user``, ``GOVERN_USER``, else the OS login name."""
        if self.user:
            return self.user
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no login name, e.g. in a bare container
            return f"uid-{os.getuid()}"


def config_file_path() -> Path | None:
    explicit = os.environ.get("GOVERN_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("GOVERN_HOME")
    candidate = (Path(home) if home else default_home()) / "config.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning any problem into a one-line :class:`ConfigError`."""
    given = {key: value for key, value in overrides.items() if value is not None}
    toml_file = config_file_path()
    if toml_file is not None:
        _check_toml(toml_file)
    try:
        return Settings(**given)
    except SettingsError as exc:  # a GOVERN_* list or mapping that is not valid JSON
        raise ConfigError(f"{_one_line(exc)} (lists and mappings are JSON)") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"setting {field or '?'}: {first['msg'].removeprefix('Value error, ')} (from "
            f"GOVERN_{field.upper()}, the config file or the command line)"
        ) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (GOVERN_CONFIG_FILE)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
