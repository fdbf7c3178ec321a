"""Each role ships its own copy of file_state.sh, so a role works without the others; the copies
must not drift apart (a fix in one would silently miss the other)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPIES = [ROOT / 'roles' / role / 'files' / 'file_state.sh' for role in ('asterisk', 'hardening')]


def test_file_state_copies_are_identical():
    texts = {str(path.relative_to(ROOT)): path.read_text() for path in COPIES}
    assert len(set(texts.values())) == 1, 'roles/*/files/file_state.sh differ: ' + ', '.join(texts)
