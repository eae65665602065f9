"""Download, verify and unpack public datasets (the machinery behind :mod:`skcatdog.datasets`).

Modelled on scikit-learn's ``sklearn.datasets._base`` (``get_data_home``,
``RemoteFileMetadata``, ``_fetch_remote``), with what large image archives
need on top: a progress bar, resuming an interrupted download with an HTTP
``Range`` request, and unpacking into a temporary folder that is renamed into
place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections import namedtuple
from pathlib import Path, PurePosixPath

logger = logging.getLogger("skcatdog.datasets")

DATA_ENV = "SKCATDOG_DATA"
MIRROR_ENV = "SKCATDOG_DATA_MIRROR"
CHUNK = 1 << 20
# Seconds a socket may stay silent before the download counts as dropped (and is resumed).
SOCKET_TIMEOUT = 60.0
N_RETRIES = 3
RETRY_DELAY = 1.0

RemoteFileMetadata = namedtuple("RemoteFileMetadata", ["filename", "url", "checksum"])
RemoteFileMetadata.__doc__ = """A file to download: its local name, its URL and its SHA-256 (hex)."""


class DownloadError(OSError):
    """A download that failed, was cut short for good, or did not verify."""


def get_data_home(data_home=None):
    """The folder that fetched datasets live in, created if missing.

    ``data_home`` if given, else the ``SKCATDOG_DATA`` environment variable,
    else ``~/skcatdog_data`` (as scikit-learn's ``SCIKIT_LEARN_DATA`` and
    ``~/scikit_learn_data``).
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV, os.path.join("~", "skcatdog_data"))
    data_home = Path(data_home).expanduser()
    data_home.mkdir(parents=True, exist_ok=True)
    return data_home


def mirror_url(remote, base_url=None):
    """The URL to download ``remote`` from: ``base_url``/``$SKCATDOG_DATA_MIRROR`` + file name, or its own."""
    base = base_url if base_url is not None else os.environ.get(MIRROR_ENV) or None
    if base is None:
        return remote.url
    return base.rstrip("/") + "/" + urllib.parse.quote(remote.filename)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total, initial, desc):
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and CI.
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=None)


def _download_once(url, part, name):
    """Append to ``part`` what the server still has to send; True when the body arrived whole."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "skcatdog"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # The part file already holds everything the server has (or more): start afresh.
            part.unlink()
            return False
        raise DownloadError(f"cannot download {name} from {url}: HTTP {exc.code} {exc.reason}") from None
    with response:
        resumed = (
            have and response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        )
        if response.status == 206 and not resumed:
            # A part of the file, but not the part that was asked for: start afresh without a Range.
            if part.exists():
                part.unlink()
            return False
        if have and not resumed:
            logger.info("%s: the server does not resume downloads; starting again", name)
            have = 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with (
            open(part, "ab" if have else "wb") as f,
            _progress(None if expected is None else have + expected, have, name) as bar,
        ):
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                logger.warning("%s: connection lost after %d bytes (%s)", name, have + received, exc)
                return False
    # Without a Content-Length the server's closing the connection is the only end-of-body signal.
    return expected is None or received == expected


def fetch_remote(remote, dirname, base_url=None, n_retries=None, delay=None, _restarted=False):
    """Download ``remote`` into ``dirname`` and verify it; return the file's path.

    The bytes go to ``<filename>.part`` first: an interrupted download is
    resumed from there (now, up to ``n_retries`` times, or by a later call)
    where the server honours ``Range`` requests. The file gets its final name
    only after its SHA-256 matched, so a file under that name is verified.

    Raises
    ------
    DownloadError
        On an HTTP error, a network error, a connection that keeps dropping,
        or a checksum mismatch (naming the file and both digests; the
        downloaded bytes are deleted).
    """
    n_retries = N_RETRIES if n_retries is None else n_retries
    delay = RETRY_DELAY if delay is None else delay
    dirname = Path(dirname)
    dirname.mkdir(parents=True, exist_ok=True)
    path = dirname / remote.filename
    part = dirname / (remote.filename + ".part")
    url = mirror_url(remote, base_url)
    resumed_any = part.exists() and part.stat().st_size > 0
    logger.info("downloading %s from %s", remote.filename, url)
    for attempt in range(n_retries + 1):
        try:
            complete = _download_once(url, part, remote.filename)
        except DownloadError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            # No name resolution or nobody listening: offline, or a wrong mirror. Retrying would only
            # make the user wait; a dropped or stalled transfer is worth retrying.
            unreachable = isinstance(reason, (socket.gaierror, ConnectionRefusedError))
            if attempt == n_retries or unreachable:
                raise DownloadError(f"cannot download {remote.filename} from {url}: {reason}") from None
            complete = False
        if complete:
            break
        resumed_any = True
        if attempt < n_retries:
            time.sleep(delay * (attempt + 1))
    else:
        have = part.stat().st_size if part.exists() else 0
        raise DownloadError(
            f"download of {remote.filename} from {url} was cut short {n_retries + 1} times "
            f"({have} bytes kept in {os.fspath(part)}; the next call resumes from there)"
        )
    digest = sha256(part)
    if digest != remote.checksum:
        part.unlink()
        if resumed_any and not _restarted:
            # The kept bytes may have come from another version of the file: one clean try.
            logger.warning("%s: resumed download does not verify; downloading it whole once more", remote.filename)
            return fetch_remote(remote, dirname, base_url=base_url, n_retries=n_retries, delay=delay, _restarted=True)
        raise DownloadError(
            f"{remote.filename} downloaded from {url} has SHA-256 {digest}, expected {remote.checksum}: "
            "the download is corrupt or the file changed on the server; it was deleted"
        )
    os.replace(part, path)
    return path


def _safe_name(name, archive):
    """The member's path inside the extraction folder, or an error if it would land outside it."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or (posix.parts and ":" in posix.parts[0]):
        raise DownloadError(f"{os.fspath(archive)}: member {name!r} would be written outside the target folder")
    return posix


def _extract_zip(archive, into):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            rel = _safe_name(info.filename, archive)
            if not rel.parts:
                continue
            target = into.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def _extract_tar(archive, into):
    with tarfile.open(archive) as t:
        members = []
        for m in t.getmembers():
            _safe_name(m.name, archive)
            # Only plain files and folders: links and device nodes have no place in a dataset.
            if m.isfile() or m.isdir():
                members.append(m)
        t.extractall(into, members=members, filter="data")


def unpack(archive, target):
    """Extract ``archive`` (zip or tar, any compression) into the folder ``target``, atomically.

    Extraction goes into a temporary folder beside ``target``, renamed to
    ``target`` only once every member is written: an interrupted unpack
    leaves no ``target``, and leftover temporary folders are removed by the
    next call.
    """
    archive, target = Path(archive), Path(target)
    for stale in target.parent.glob(f".{target.name}.unpacking-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpacking-", dir=target.parent))
    try:
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, tmp)
            elif tarfile.is_tarfile(archive):
                _extract_tar(archive, tmp)
            else:
                raise DownloadError(f"{os.fspath(archive)} is neither a zip nor a tar archive")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise DownloadError(f"{os.fspath(archive)} is a damaged archive ({exc})") from None
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def fetch_archive(remote, dirname, target_name, download_if_missing=True, base_url=None, keep_archive=False):
    """The folder ``dirname/target_name`` holding ``remote``'s unpacked contents, fetched if missing.

    Returns the folder; raises :class:`OSError` (``FileNotFoundError``) if it
    is missing and ``download_if_missing`` is False.
    """
    dirname = Path(dirname)
    target = dirname / target_name
    if target.is_dir():
        return target
    if not download_if_missing:
        raise FileNotFoundError(
            f"{os.fspath(target)} does not exist and download_if_missing=False "
            f"(it is unpacked from {remote.filename}, {remote.url})"
        )
    archive = dirname / remote.filename
    if not archive.is_file():
        archive = fetch_remote(remote, dirname, base_url=base_url)
    logger.info("unpacking %s", archive)
    try:
        unpack(archive, target)
    except DownloadError:
        # A damaged archive is never worth keeping: the next call downloads it again.
        with contextlib.suppress(FileNotFoundError):
            archive.unlink()
        raise
    if not keep_archive:
        with contextlib.suppress(FileNotFoundError):
            archive.unlink()
    return target
