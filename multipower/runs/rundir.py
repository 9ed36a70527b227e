"""Run folders: ``--out`` checked before any work, files replaced atomically, and a manifest of what is there.

Every folder a command writes carries ``manifest.json``, written last::

    {"format": 1, "kind": "exact", "numerics_version": 2, "config_hash": "…", "samples_requested": 10000,
     "samples_done": 10000, "complete": true, "files": {"power.csv": {"sha256": "…", "bytes": 123, "rows": 2401}}}

* ``kind`` is the command's kind of run (``exact``, ``exact_single``, ``train``, ``compare``, ``reproduce``…);
  ``check_out`` refuses a folder holding another kind, another configuration, or files it did not write,
  unless ``overwrite`` (then it removes the earlier run's files first, so none is left beside the new ones).
* ``config_hash`` is the SHA-256 of everything the numbers depend on (``config_hash``), and
  ``numerics_version`` is ``NUMERICS_VERSION``, raised whenever a change to the package alters results, so
  results saved before the change are recomputed rather than reused.
* ``verify`` accepts a saved result only when the manifest matches the configuration and every listed file
  still has its recorded hash; anything else (a killed write, an edited file, an older version) is recomputed.

Writers write each file with ``atomic_write`` (a temporary file in the same folder, then a rename), after
``begin`` has replaced the old manifest by one that lists no files (``"state": "writing"``); a killed run
therefore leaves either the old complete result with its manifest, or files that no manifest vouches for, which
``verify`` never reuses. ``check_out`` writes such a file-less manifest into a folder that has none, so
a run killed before its first result is written still owns its folder (its rerun resumes there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Iterable, Mapping, Optional, Union

from multipower.envs.serialization import atomic_write, jsonable  # noqa: F401  (atomic_write: for run writers)

#: Raised whenever a change to the package alters saved numbers (reward draws, solver, accumulation order).
NUMERICS_VERSION = 9
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: Names that multipower runs write into a folder; a folder holding any of them without a manifest of the same
#: kind and configuration is another run's (or the user's own files) and is not written into.
RUN_FILES = (
    "power.csv", "summary.json", "spec.json", "config.json", "config.yaml", "comparison.json", "comparison.png",
    "agents.npz", "report.json", "report.md", "sweep.json", "chunks", "blocks", "points", "exact", "learned",
    "figures", MANIFEST,
)
#: Folders ``--out`` never names: the system's own, at any depth below them ...
_SYSTEM = (Path("/proc"), Path("/sys"), Path("/dev"))
#: ... and these folders themselves (with the home folder), whose files a run's ``--overwrite`` must never touch.
_SYSTEM_ROOTS = tuple(Path(p) for p in ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys",
                                         "/usr", "/var", "/sbin", "/root", "/home"))
#: The lock file that marks a folder as being written (``hold``).
LOCK_FILE = ".multipower.lock"
#: Who holds the lock: ``{"pid": ..., "host": ...}``, written by the holder.
OWNER_FILE = ".multipower.owner"

PathLike = Union[str, Path]


class OutputError(ValueError):
    """``--out`` cannot be used: one line naming the flag, the folder and what to do."""


def config_hash(config: Mapping) -> str:
    """SHA-256 of ``config`` as canonical JSON (sorted keys, numpy values as plain numbers)."""
    text = json.dumps(jsonable(dict(config)), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: PathLike) -> Optional[dict]:
    """The folder's manifest, or None if it has none; ``OutputError`` naming the file if it is malformed."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OutputError(f"{path}: not valid JSON ({error})") from None
    for key in ("kind", "config_hash", "numerics_version", "complete", "files"):
        if not isinstance(manifest, dict) or key not in manifest:
            raise OutputError(f"{path}: missing key {key!r}")
    if not isinstance(manifest["files"], dict):
        raise OutputError(f"{path}: 'files' must map file names to their checksums")
    for name in manifest["files"]:
        inside(directory, name, f"{path} lists")
    return manifest


def inside(directory: PathLike, name: str, what: str) -> Path:
    """``directory / name`` when ``name`` is a relative path that stays inside ``directory`` (no ``..``, no
    absolute path, no symbolic link leading out); ``OutputError`` saying ``what`` names it otherwise.

    Every path read from a run folder goes through this: a folder received from someone else must not make a
    command read or delete files outside it."""
    folder = Path(directory).resolve()
    relative = Path(str(name))
    target = folder / relative
    if (not str(name) or relative.is_absolute() or ".." in relative.parts
            or not (target.resolve() == folder or folder in target.resolve().parents)):
        raise OutputError(f"{what} {str(name)!r}, which is not inside {directory}; refusing to use it "
                          "(the folder may come from someone else)")
    return target


#: The files a saved result writes itself: ``files`` given beside it may not take their names.
RESULT_FILES = ("power.csv", "summary.json", MANIFEST)


def check_extra_files(files, name: str = "files") -> dict:
    """``files`` (file name to text or bytes, written beside a result), checked: a mapping whose names are plain
    file names (no folder part, not hidden, not ``.``/``..``), none of ``RESULT_FILES``, with text or bytes
    contents. ``ValueError`` naming ``name`` and the file otherwise, before anything is written."""
    if not isinstance(files, Mapping):
        raise ValueError(f"{name}: must map file names to text, got {type(files).__name__}")
    for key, data in files.items():
        plain = isinstance(key, str) and key == Path(key).name and key not in ("", ".", "..")
        if not plain or key.startswith(".") or os.sep in key or "/" in key:
            raise ValueError(f"{name}: {key!r} is not a plain file name inside the run folder")
        if key in RESULT_FILES:
            raise ValueError(f"{name}: {key!r} is one of the result's own files {RESULT_FILES}")
        if not isinstance(data, (str, bytes)):
            raise ValueError(f"{name}[{key!r}]: must be text or bytes, got {type(data).__name__}")
    return dict(files)


def check_out(directory: PathLike, kind: str, config: Optional[Mapping] = None, overwrite: bool = False,
              flag: str = "--out", create: bool = True) -> Path:
    """Check an output folder before any work; create it; with ``overwrite``, clear the earlier run's files.

    With ``create=False`` a folder that does not exist yet is not made (only its nearest existing parent is
    checked for writing): for commands that check more of their input after this and write nothing before.

    Accepted: a new or empty folder, or one whose manifest (even of a partial run) has the same ``kind`` and,
    when ``config`` is given, the same ``config_hash`` (a rerun: the caller resumes or reuses).

    Raises:
        OutputError: (one line naming ``flag``) when the path is a file or lies under one, is a system
            folder, cannot be written, or holds another kind of run, another configuration, or result files without a
            manifest, unless ``overwrite``.
    """
    path = check_own_folder(directory, flag)
    resolved = path.resolve()
    for parent in [resolved, *resolved.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == resolved else f"lies under a file ({parent})"
            raise OutputError(f"{flag}: {path} {where}; give a folder")
    if not create and not path.exists():
        parent = next(p for p in resolved.parents if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{flag}: cannot write to {path} (permission denied in {parent})")
        return path
    make_writable(path, flag)
    hold(path, flag)
    problem = _conflict(path, kind, config)
    if problem is not None:
        if not overwrite:
            raise OutputError(f"{flag}: {path} {problem}; use --overwrite to replace it, or another {flag}")
        clear(path)
    if not (path / MANIFEST).exists():
        begin(path, kind, config or {})
    return path


def check_own_folder(directory: PathLike, flag: str) -> Path:
    """``directory`` as a path, refused (``OutputError`` naming ``flag``) when empty, a system folder (``/``,
    ``/etc``, ``/usr``, ..., anything under ``/proc``, ``/sys``, ``/dev``) or the home folder itself: for every
    folder a command writes into (run folders, figures, TensorBoard logs), before anything is written."""
    if not str(directory).strip():  # Path("") is the working folder: never what an empty flag meant
        raise OutputError(f"{flag} must name a folder, got {str(directory)!r}")
    path = Path(directory).expanduser()
    resolved = path.resolve()
    if (any(resolved == root or root in resolved.parents for root in _SYSTEM)
            or resolved in _SYSTEM_ROOTS or resolved == Path.home().resolve()):
        raise OutputError(f"{flag}: {path} is a system folder or your home folder; choose a folder of your own")
    return path


def check_output_file(file: PathLike, flag: str, overwrite: bool = False) -> Path:
    """A single output file (a graph, an animation): refused (``OutputError`` naming ``flag``) when its folder
    is a system folder, when it names a folder (or ends in ``/``), when it exists and is not a regular file (a
    device, a link), or when it exists and ``overwrite`` is not given."""
    text = str(file)
    path = Path(text).expanduser()
    if not text.strip() or text.endswith(("/", os.sep)) or path.is_dir():
        raise OutputError(f"{flag}: {text!r} is a folder; give a file name")
    check_own_folder(path.parent.resolve(), flag)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OutputError(f"{flag}: {path} exists and is not a regular file (a link or a device); refusing to "
                          "replace it")
    if path.exists() and not overwrite:
        raise OutputError(f"{flag}: {path} exists; use --overwrite to replace it, or another {flag}")
    return path


def make_writable(path: Path, flag: str) -> None:
    """Make the folder ``path`` and probe that a file can be written in it; ``OutputError`` naming ``flag``
    otherwise (checked before any work, not when the first result is saved)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".multipower-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"{flag}: cannot write to {path} ({error.strerror or error})") from None


_HELD: dict = {}  # resolved folder -> its FileLock, held by this process


def hold(directory: PathLike, flag: str = "--out") -> None:
    """Take the folder's exclusive write lock for this process (until ``release``, or the process ends).

    One process writes a folder at a time: a second writer gets ``OutputError`` naming the process that holds
    it (pid and host). The lock is the operating system's (``filelock``, ``flock`` on Linux), so a lock left
    by a killed process is released with it and the next run takes it at once. Taking it again in the same
    process is a no-op."""
    from filelock import FileLock, Timeout

    path = Path(directory).resolve()
    if path in _HELD:
        return
    lock = FileLock(str(path / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(f"{flag}: {directory} is being written by {_owner(path)}; wait for it to finish, "
                          f"or use another {flag}") from None
    _HELD[path] = lock
    atomic_write(path / OWNER_FILE, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")


def holds(directory: PathLike) -> bool:
    """Whether this process holds ``directory``'s write lock."""
    return Path(directory).resolve() in _HELD


def release(directory: Optional[PathLike] = None) -> None:
    """Give up the write locks of ``directory`` and of the folders inside it (of every folder, without one)."""
    top = None if directory is None else Path(directory).resolve()
    for path in [p for p in _HELD if top is None or p == top or top in p.parents]:
        lock = _HELD.pop(path, None)
        if lock is not None:
            (path / OWNER_FILE).unlink(missing_ok=True)
            lock.release()


def check_not_writing(directory: PathLike, flag: str) -> None:
    """Refuse (``OutputError``) to read a folder that another process is writing: its files may be half made."""
    from filelock import FileLock, Timeout

    path = Path(directory).resolve()
    if path in _HELD or not (path / LOCK_FILE).exists():
        return
    if not os.access(path / LOCK_FILE, os.W_OK):  # a read-only folder (or lock): test the lock without writing
        if _locked_read_only(path / LOCK_FILE):
            raise OutputError(f"{flag}: {directory} is being written by {_owner(path)}; wait for it to finish")
        return
    lock = FileLock(str(path / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(f"{flag}: {directory} is being written by {_owner(path)}; wait for it to finish") from None
    lock.release()


def _locked_read_only(lock_file: Path) -> bool:
    """Whether another process holds ``lock_file``'s lock, tested through a read-only descriptor (``flock`` takes
    an exclusive lock on one): readers of a read-only folder must not need to write in it."""
    try:
        import fcntl
    except ImportError:  # no flock: a read-only folder is not being written by this package
        return False
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _owner(path: Path) -> str:
    """``process 1234 on host`` from the owner file, or ``another process`` when it cannot be read."""
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
        return f"process {int(owner['pid'])} on {str(owner['host'])[:100]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _conflict(path: Path, kind: str, config: Optional[Mapping]) -> Optional[str]:
    try:
        manifest = read_manifest(path)
    except OutputError as error:  # a damaged manifest: the folder holds a run nobody can verify
        return f"holds a damaged {MANIFEST} ({error})"
    if manifest is None:
        found = sorted(name for name in RUN_FILES if (path / name).exists())
        return f"holds {', '.join(found)} not written by this kind of run" if found else None
    if manifest["kind"] != kind:
        return f"holds a {manifest['kind']!r} run, not {kind!r}"
    if config is not None and manifest["config_hash"] != config_hash(config):
        return "holds a run of another configuration"
    return None


def clear(directory: PathLike) -> None:
    """Remove what earlier runs wrote in ``directory`` (the names in ``RUN_FILES`` and the manifest's
    files); anything else in the folder is left alone."""
    path = Path(directory)
    try:
        manifest = read_manifest(path)
    except OutputError:  # damaged: its list of files is unknown, the usual run files still go
        manifest = None
    names = set(RUN_FILES) | set((manifest or {}).get("files", {}))  # read_manifest checked they lie inside
    for name in names:
        target = path / name
        if target.is_symlink():  # the link goes, never what it points to
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def begin(directory: PathLike, kind: Optional[str] = None, config: Optional[Mapping] = None,
          samples_requested: int = 0, samples_done: int = 0) -> None:
    """Before files are rewritten: remove the manifest, so a killed rewrite is never taken for a finished result.

    With ``kind`` (and ``config``), write instead a manifest that lists no files and says ``"state": "writing"``:
    the folder stays this run's (``check_out`` accepts it for a rerun) while ``verify`` reuses nothing.
    """
    path = Path(directory) / MANIFEST
    if kind is None:
        path.unlink(missing_ok=True)
        return
    write_manifest(directory, kind, config or {}, [], samples_requested, samples_done, extra={"state": "writing"})


def write_manifest(directory: PathLike, kind: str, config: Mapping, files: Iterable[str], samples_requested: int,
                   samples_done: int, rows: Optional[Mapping[str, int]] = None, extra: Optional[Mapping] = None) -> dict:
    """Write ``manifest.json`` last, listing ``files`` (names in ``directory``) with their SHA-256 and size.

    Args:
        rows: Data rows of the CSV files, by name.
        extra: More keys to record (e.g. the completed sample blocks).
    """
    path = Path(directory)
    listed = {}
    for name in files:
        listed[name] = {"sha256": file_digest(path / name), "bytes": (path / name).stat().st_size}
        if rows and name in rows:
            listed[name]["rows"] = int(rows[name])
    manifest = {
        "format": MANIFEST_FORMAT, "kind": kind, "numerics_version": NUMERICS_VERSION,
        "config_hash": config_hash(config), "samples_requested": int(samples_requested),
        "samples_done": int(samples_done), "complete": int(samples_done) >= int(samples_requested),
        "state": "written", "files": listed, **dict(extra or {}),
    }
    atomic_write(path / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify(directory: PathLike, kind: str, config: Mapping) -> tuple[Optional[dict], str]:
    """``(manifest, "")`` when ``directory`` holds a result of this kind and configuration whose files all match
    their recorded hashes; otherwise ``(None, reason)``, the reason in a few words for the user."""
    path = Path(directory)
    try:
        manifest = read_manifest(path)
    except OutputError as error:
        return None, str(error)
    if manifest is None:
        return None, "no manifest"
    if manifest["kind"] != kind:
        return None, f"a {manifest['kind']!r} run"
    if manifest["numerics_version"] != NUMERICS_VERSION:
        return None, f"saved by numerics version {manifest['numerics_version']}, this is {NUMERICS_VERSION}"
    if manifest["config_hash"] != config_hash(config):
        return None, "another configuration"
    problem = check_files(path, manifest)
    return (None, problem) if problem else (manifest, "")


def check_files(directory: PathLike, manifest: Optional[dict] = None) -> str:
    """``""`` when every file the manifest lists still has its recorded hash, else the reason in a few words
    (also when the last write did not finish). A folder without a manifest gives ``""``: nothing to check."""
    path = Path(directory)
    manifest = read_manifest(path) if manifest is None else manifest
    if manifest is None:
        return ""
    if manifest.get("state") == "writing" or not manifest["files"]:
        return "its last write did not finish (no result is vouched for)"
    for name, entry in manifest["files"].items():
        target = path / name
        if not target.is_file() or file_digest(target) != entry.get("sha256"):
            return f"{name} does not match its manifest"
    return ""
