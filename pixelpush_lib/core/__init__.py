"""The bottom layer, free of torch and the simulator: the run configs, repository paths and safe file writes."""

from pixelpush_lib.core.configs import CONFIGS, RunConfig, config_names, get_config
from pixelpush_lib.core.files import atomic_write, git_commit, sha256_file, utc_now, write_json_atomic
from pixelpush_lib.core.paths import DATA_DIR, MEASURED_DIR, NOTEBOOKS_DIR, REPO_ROOT

__all__ = [
    "CONFIGS", "DATA_DIR", "MEASURED_DIR", "NOTEBOOKS_DIR", "REPO_ROOT", "RunConfig", "atomic_write", "config_names",
    "get_config", "git_commit", "sha256_file", "utc_now", "write_json_atomic",
]
