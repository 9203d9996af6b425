"""Which versions are loaded: polling base paths, version policies, labels."""

from __future__ import annotations

import logging
import os
import pathlib
import re
import threading
import time

from ecomtf.serving import config as cfg
from ecomtf.serving import errors

log = logging.getLogger("ecomtf.serving")

_VERSION_DIR = re.compile(r"\d+")
_INT64_MAX = 2**63 - 1


class _Model:
    """State of one configured model (guarded by the manager's lock)."""

    def __init__(self, config):
        self.config = config
        self.loaded: dict[int, object] = {}
        # version -> (state, code, message); kept after unload (END), as the
        # servable state monitor does.
        self.states: dict[int, tuple[str, str, str]] = {}
        self.failed: dict[int, _Failure] = {}
        # version -> fingerprint at the previous poll (to see files settle).
        self.seen: dict[int, tuple] = {}
        self.labels: dict[str, int] = {}


def _fingerprint(path: pathlib.Path) -> tuple:
    """(relative path, mtime, size) of every file of a version directory.

    A failed version is retried when any of these changes: variables shards,
    assets and the warmup file can land after ``saved_model.pb``.
    """
    out = []
    root = str(path)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            try:
                st = os.stat(full)
            except OSError:
                continue
            out.append((os.path.relpath(full, root), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _newest_mtime_ns(fp: tuple) -> int:
    return max((m for _, m, _ in fp), default=0)


def _status_message(message: str) -> str:
    # A status proto's error_message must be valid UTF-8; bounded like the
    # REST errors.
    from ecomtf.serving.json_codec import bounded_message

    text = bounded_message(message)
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


class _Failure:
    """A version whose load failed: what its files were, and when to retry."""

    def __init__(self, fingerprint: tuple, retries_left: int, retry_at: float):
        self.fingerprint = fingerprint
        self.retries_left = retries_left
        self.retry_at = retry_at


class ModelManager:
    """Loads, serves and unloads model versions the way TF Serving's
    ServerCore does, for the local server.

    Every ``file_system_poll_wait_seconds`` each model's ``base_path`` is
    scanned. A version is a directory named by an integer (others, such as
    the ``.tmp-*`` directories of exports in progress, are ignored) that holds
    ``saved_model.pb``; a directory whose real path leaves the base path (a
    symlink) is ignored, so a model name never reaches outside its configured
    path. The version policy (latest N, specific, all) picks the aspired
    versions; new ones are loaded (and warmed up from
    ``assets.extra/tf_serving_warmup_requests``) before old ones are unloaded,
    as TF Serving's availability-preserving policy does. A version that fails
    to load is reported in its status (``END`` with the error) and retried on
    TF Serving's schedule (``max_num_load_retries`` more times,
    ``load_retry_interval_seconds`` apart, checked at each poll) and at once
    whenever any of its files changes; it never takes down the versions being
    served. A version whose files are still being written (they changed since
    the previous poll and the newest is younger than ``settle_seconds``) is
    not tried yet, and a load that fails while the files change under it is
    not reported as failed: both are tried again at the next poll.

    Args:
        config: a ``ModelServerConfig`` message.
        file_system_poll_wait_seconds: > 0 polls in a background thread; 0
            scans once at start.
        enable_model_warmup: replay warmup records when loading.
        num_request_iterations_for_warmup: replays per record.
        allow_version_labels_for_unavailable_models: accept labels naming
            versions that are not loaded.
        loader: ``(name, version, path) -> servable``; default LoadedVersion.
        max_num_load_retries: retries after a failed load (TF Serving's
            ``--max_num_load_retries``, default 5; 0 = try once).
        load_retry_interval_seconds: time between retries (TF Serving's
            ``--load_retry_interval_micros``, default 1 minute).
        settle_seconds: files younger than this that changed since the last
            poll mean a version is still being written.

    Example:
        >>> m = ModelManager(single_model_config("hp2", "export/hp2"))
        >>> m.start(); m.servable("hp2").version
        1
    """

    def __init__(
        self,
        config,
        *,
        file_system_poll_wait_seconds: float = 1.0,
        enable_model_warmup: bool = True,
        num_request_iterations_for_warmup: int = 1,
        allow_version_labels_for_unavailable_models: bool = False,
        loader=None,
        max_num_load_retries: int = 5,
        load_retry_interval_seconds: float = 60.0,
        settle_seconds: float = 1.0,
    ):
        if loader is None:
            from ecomtf.serving.loaded_version import LoadedVersion

            loader = LoadedVersion
        cfg.validate_model_server_config(config)
        self._loader = loader
        self.poll_seconds = file_system_poll_wait_seconds
        self.enable_model_warmup = enable_model_warmup
        self.warmup_iterations = num_request_iterations_for_warmup
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self.max_num_load_retries = max(0, int(max_num_load_retries))
        self.load_retry_interval_seconds = max(0.0, float(load_retry_interval_seconds))
        self.settle_seconds = settle_seconds
        self._lock = threading.RLock()
        # One poll or reload at a time; requests only take _lock briefly.
        self._poll_lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        self._pending_config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # === Lifecycle ===

    def start(self) -> "ModelManager":
        """Loads what the config asks for, then polls in the background."""
        self.reload_config(self._pending_config)
        if self.poll_seconds and self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="ecomtf-poll", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - polling must survive anything
                log.exception("polling model base paths failed")

    # === Config ===

    def reload_config(self, config) -> None:
        """Applies a ``ModelServerConfig`` as a full replacement.

        Models not in it are unloaded; new ones are loaded now; labels are
        checked after loading.

        Raises:
            ServingError: INVALID_ARGUMENT for a bad config, FAILED_PRECONDITION
                for a label naming a version that is not available.
        """
        cfg.validate_model_server_config(config)
        with self._poll_lock:
            wanted = {m.name: m for m in config.model_config_list.config}
            with self._lock:
                for name in list(self._models):
                    if name not in wanted:
                        model = self._models.pop(name)
                        log.info("unloading model %s (not in the new config)", name)
                        model.loaded.clear()
                for name, mc in wanted.items():
                    old = self._models.get(name)
                    if old is not None and old.config.base_path == mc.base_path:
                        old.config = mc
                    else:
                        # New model, or its versions now come from elsewhere.
                        self._models[name] = _Model(mc)
            self._poll_locked()
            with self._lock:
                for name, mc in wanted.items():
                    labels = dict(mc.version_labels)
                    model = self._models[name]
                    for label, version in labels.items():
                        if version not in model.loaded and not self.allow_unavailable_labels:
                            raise errors.failed_precondition(
                                f"Request to assign label to version {version} of model {name}, "
                                "which is not currently available for inference"
                            )
                    model.labels = labels
            self._pending_config = config

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    # === Polling ===

    def poll_once(self) -> None:
        """One scan of every base path: load, then unload, per policy."""
        with self._poll_lock:
            self._poll_locked()

    def _poll_locked(self) -> None:
        with self._lock:
            work = [(name, m.config) for name, m in self._models.items()]
        for name, mc in work:
            self._poll_model(name, mc)

    def discover(self, base_path) -> dict[int, pathlib.Path]:
        """Complete version directories under ``base_path``."""
        base = pathlib.Path(base_path)
        try:
            entries = list(os.scandir(base))
        except OSError:
            return {}
        root = os.path.realpath(base)
        out = {}
        for entry in entries:
            if not _VERSION_DIR.fullmatch(entry.name) or int(entry.name) > _INT64_MAX:
                continue
            path = pathlib.Path(entry.path)
            if not path.is_dir():
                continue
            real = os.path.realpath(path)
            if os.path.commonpath([root, real]) != root:
                log.warning("ignoring %s: it resolves outside the base path %s", path, base)
                continue
            if not any((path / f).is_file() for f in cfg.SAVED_MODEL_FILES):
                continue  # Not a SavedModel (yet): never serve a half-written version.
            out[int(entry.name)] = path
        return out

    @staticmethod
    def aspired(policy, on_disk: list[int]) -> list[int]:
        """The versions a ``ModelVersionPolicy`` keeps loaded."""
        choice = policy.WhichOneof("policy_choice")
        versions = sorted(on_disk)
        if choice == "all":
            return versions
        if choice == "specific":
            return [v for v in versions if v in set(policy.specific.versions)]
        n = policy.latest.num_versions if choice == "latest" else 1
        return versions[-max(n, 1):]

    def _poll_model(self, name: str, mc) -> None:
        found = self.discover(mc.base_path)
        aspired = self.aspired(mc.model_version_policy, list(found))
        with self._lock:
            model = self._models.get(name)
            if model is None or model.config is not mc:
                return
            to_load = []
            now = time.monotonic()
            seen, model.seen = model.seen, {}
            for v in sorted(aspired, reverse=True):
                if v in model.loaded:
                    continue
                fp = _fingerprint(found[v])
                model.seen[v] = fp
                failure = model.failed.get(v)
                if failure is not None and failure.fingerprint == fp:
                    if failure.retries_left <= 0 or now < failure.retry_at:
                        continue  # Retried on schedule, or when its files change.
                if self._still_written(fp, seen.get(v)):
                    continue  # Tried at a later poll, once the files settle.
                to_load.append((v, fp, failure))
                model.states[v] = ("LOADING", "OK", "")
        for v, fp, failure in to_load:
            servable, error = self._load(name, v, found[v])
            changed = servable is None and _fingerprint(found[v]) != fp
            with self._lock:
                model = self._models.get(name)
                if model is None:
                    return
                if servable is not None:
                    model.loaded[v] = servable
                    model.states[v] = ("AVAILABLE", "OK", "")
                    model.failed.pop(v, None)
                    log.info("serving %s version %d", name, v)
                elif changed and self.poll_seconds and self.poll_seconds > 0:
                    # The files changed during the load: a copy in progress,
                    # not a bad version. Not reported; the next poll retries.
                    model.states.pop(v, None)
                    model.seen.pop(v, None)
                    log.info("%s version %d changed while loading; retrying later", name, v)
                else:
                    if failure is not None and failure.fingerprint == fp:
                        retries_left = failure.retries_left - 1
                    else:
                        retries_left = self.max_num_load_retries
                    model.failed[v] = _Failure(
                        fp, retries_left, time.monotonic() + self.load_retry_interval_seconds
                    )
                    model.states[v] = ("END", error.code, _status_message(error.message))
        with self._lock:
            model = self._models.get(name)
            if model is None:
                return
            available = [v for v in aspired if v in model.loaded]
            # Availability preserving: unload only once an aspired version
            # serves (or when nothing is aspired any more).
            if available or not aspired:
                for v in list(model.loaded):
                    if v not in aspired:
                        del model.loaded[v]
                        model.states[v] = ("END", "OK", "")
                        log.info("unloaded %s version %d", name, v)

    def _still_written(self, fp: tuple, previous: tuple | None) -> bool:
        """Files changed since the last poll and are fresh: a copy in progress.

        Without background polling (a single scan) nothing waits.
        """
        if not self.poll_seconds or self.poll_seconds <= 0 or not fp:
            return False
        if previous == fp:
            return False
        age = time.time() - _newest_mtime_ns(fp) / 1e9
        return age < self.settle_seconds

    def _load(self, name: str, version: int, path):
        log.info("loading %s version %d from %s", name, version, path)
        try:
            servable = self._loader(name, version, path)
            if self.enable_model_warmup and hasattr(servable, "warmup"):
                servable.warmup(self.warmup_iterations)
            return servable, None
        except errors.ServingError as e:
            log.warning("loading %s version %d failed: %s", name, version, e)
            return None, e
        except Exception as e:  # noqa: BLE001 - a bad version must not stop the server
            log.warning("loading %s version %d failed: %s", name, version, e)
            return None, errors.error_for("UNKNOWN", f"Loading servable {name} version {version} failed: {e}")

    # === Lookups ===

    def servable(self, name: str, version: int | None = None, label: str | None = None):
        """The loaded version a request names (latest by default).

        Raises:
            ServingError: NOT_FOUND ("Servable not found for request: ...") or
                INVALID_ARGUMENT for an unknown label.
        """
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                if model is None or label not in model.labels:
                    raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
                version = model.labels[label]
            if version is None:
                if model is None or not model.loaded:
                    raise errors.not_found(f"Servable not found for request: Latest({name})")
                return model.loaded[max(model.loaded)]
            if model is None or version not in model.loaded:
                raise errors.not_found(f"Servable not found for request: Specific({name}, {version})")
            return model.loaded[version]

    def version_status(self, name: str, version: int | None = None, label: str | None = None):
        """``[(version, state, code, message)]``, newest first.

        Raises:
            ServingError: NOT_FOUND for an unknown model or version.
        """
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                if model is None or label not in model.labels:
                    raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
                version = model.labels[label]
            states = dict(model.states) if model is not None else {}
        if version is not None:
            if version not in states:
                raise errors.not_found(f"Could not find version {version} of model {name}")
            return [(version, *states[version])]
        if not states:
            raise errors.not_found(f"Could not find any versions of model {name}")
        return [(v, *states[v]) for v in sorted(states, reverse=True)]

    def loaded_versions(self) -> dict[str, list[int]]:
        with self._lock:
            return {name: sorted(m.loaded) for name, m in self._models.items()}
