"""specc's cache folder (torch-free): ``$XDG_CACHE_HOME/specc``, else ``~/.cache/specc``, else
the temporary folder's ``specc`` when neither can be made."""
from __future__ import annotations

import os
from pathlib import Path
import tempfile


def cache_folder() -> Path | None:
    """The first of the candidate folders that exists or can be made; None if none can."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "specc"
    for folder in (home, Path(tempfile.gettempdir()) / "specc"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        except OSError:
            continue
    return None
