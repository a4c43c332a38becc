"""Rules over the library: retention (trash, archive, tag) and quality (convert, downscale, re-encode,
strip location). `model`, `facts` and `match` are pure (no I/O, like `core/`); the runner, its journal
and the backends act."""
