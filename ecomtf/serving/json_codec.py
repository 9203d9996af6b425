"""TF Serving's REST JSON format, both directions (``util/json_tensor.cc``).

Parsing follows rapidjson with ``kParseNanAndInfFlag | kParseStopWhenDoneFlag``
and an iterative parser: ``NaN``/``Infinity``/``-Infinity`` are accepted,
text after the first complete value is ignored, and very deep nesting does
not fail. Messages are TF Serving's, so clients and tests can match on them.

Writing follows ``WriteDecimal``: floats keep 6 significant digits (``%g``)
unless that does not round-trip (then ``%.9g``/``%.17g``), whole numbers get
a trailing ``.0``, non-finite values are the bare tokens ``NaN``,
``Infinity`` and ``-Infinity`` (so responses are not strict JSON, exactly as
TF Serving's are).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct

import numpy as np

from ecomtf.serving import errors
from ecomtf.serving import tensors as T

SIGNATURE_KEY = "signature_name"
INSTANCES_KEY = "instances"
INPUTS_KEY = "inputs"
CONTEXT_KEY = "context"
EXAMPLES_KEY = "examples"
PREDICTIONS_KEY = "predictions"
OUTPUTS_KEY = "outputs"
RESULTS_KEY = "results"
B64_KEY = "b64"
BYTES_SUFFIX = "_bytes"

ROW = "row"
COLUMNAR = "columnar"

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT32 = (0, 2**32 - 1)
_UINT64 = (0, 2**64 - 1)


# --------------------------------------------------------------------------
# Parsing JSON text.
# --------------------------------------------------------------------------

_PY_TO_RAPIDJSON = (
    ("Expecting value", "Invalid value."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid \\uXXXX", "Incorrect hex digit after \\u escape in string."),
    ("Expecting ',' delimiter", "Missing a comma or ']' after an array element."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Expecting property name", "Missing a name for object member."),
    ("Illegal trailing comma", "Invalid value."),
)


def _parse_error(message: str, offset: int) -> errors.ServingError:
    return errors.invalid_argument(f"JSON Parse error: {message} at offset: {offset}")


NUMBER_TOO_BIG = "Number too big to be stored in double."
# The largest integer literal rapidjson still stores (as a double): longer
# ones fail with NUMBER_TOO_BIG before Python has to build a huge int.
_MAX_INT_DIGITS = 309


class _NumberTooBig(Exception):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        # rapidjson refuses a literal past the double range ("1e400"); only
        # the NaN/Infinity tokens give non-finite values.
        raise _NumberTooBig(text)
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _NumberTooBig(text)
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _NumberTooBig(text) from None
    return value


def _skip_bom(body: bytes) -> int:
    # rapidjson's EncodedInputStream<UTF8<>, MemoryStream> drops the bytes
    # EF, BB and BF (each only if present, in that order) before parsing;
    # error offsets still count them.
    skip = 0
    for byte in (0xEF, 0xBB, 0xBF):
        if skip < len(body) and body[skip] == byte:
            skip += 1
    return skip


def decode_body(body: bytes) -> str:
    """Request bytes as text; bytes that are not UTF-8 survive as lone
    surrogates (``surrogateescape``) and come back out unchanged through
    ``utf8``: rapidjson parses without kParseValidateEncodingFlag, so TF
    Serving passes such bytes through inside strings."""
    return body.decode("utf-8", errors="surrogateescape")


def utf8(text: str) -> bytes:
    """A parsed JSON string as the bytes the client sent."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        # A "\\ud800"-style escape without its pair: rapidjson's error.
        raise errors.invalid_argument(
            "JSON Parse error: The surrogate pair in string is invalid."
        ) from None


def parse_json(body: bytes | str):
    """Parses a request body like TF Serving's ``ParseJson`` (any JSON value).

    rapidjson's flags there are ``kParseIterativeFlag | kParseNanAndInfFlag |
    kParseStopWhenDoneFlag`` without encoding validation: a UTF-8 BOM is
    skipped, bytes that are not UTF-8 pass inside strings, a number past the
    double range is "Number too big". Offsets in messages are byte offsets.

    Raises:
        ServingError: INVALID_ARGUMENT with rapidjson's wording.
    """
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    if isinstance(body, bytes):
        skipped = _skip_bom(body)
        text = decode_body(body[skipped:])
    else:
        skipped = 0
        text = body

    def offset(pos: int) -> int:
        return skipped + len(text[:pos].encode("utf-8", errors="surrogateescape"))

    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise _parse_error("The document is empty.", offset(start))
    try:
        # raw_decode stops after the first value: kParseStopWhenDoneFlag.
        value, _ = _DECODER.raw_decode(text, start)
        return value
    except (RecursionError, _NumberTooBig):
        # The iterative parser knows where a too-big number starts.
        try:
            return _IterativeParser(text, start).parse()
        except _ParseFailure as e:
            raise _parse_error(e.args[0], offset(e.args[1])) from None
    except json.JSONDecodeError as e:
        for py, rj in _PY_TO_RAPIDJSON:
            if e.msg.startswith(py):
                if py == "Expecting ',' delimiter" and _in_object(text, e.pos):
                    rj = "Missing a comma or '}' after an object member."
                raise _parse_error(rj, offset(e.pos)) from None
        raise _parse_error(e.msg + ".", offset(e.pos)) from None


class _ParseFailure(Exception):
    """(message, character position) from the iterative parser."""


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int)


def _in_object(text: str, pos: int) -> bool:
    # Good enough to pick rapidjson's message: the nearest unclosed bracket.
    depth = 0
    for ch in reversed(text[:pos]):
        if ch in "]}":
            depth += 1
        elif ch in "[{":
            if depth == 0:
                return ch == "{"
            depth -= 1
    return False


class _IterativeParser:
    """A JSON parser with an explicit stack, for documents nested too deeply
    for Python's recursive ``json`` module (TF Serving parses iteratively)."""

    _TOKEN = re.compile(
        r"""[ \t\n\r]*(?:
            (?P<open>[\[{])|(?P<close>[\]}])|(?P<comma>,)|(?P<colon>:)|
            (?P<string>"(?:[^"\\\x00-\x1f]|\\.)*")|
            (?P<const>NaN|-?Infinity|true|false|null)|
            (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?))""",
        re.VERBOSE | re.DOTALL,
    )
    _CONST = {
        "NaN": math.nan,
        "Infinity": math.inf,
        "-Infinity": -math.inf,
        "true": True,
        "false": False,
        "null": None,
    }

    def __init__(self, text: str, pos: int):
        self.text = text
        self.pos = pos

    def _next(self):
        m = self._TOKEN.match(self.text, self.pos)
        if m is None or m.end() == self.pos:
            raise _ParseFailure("Invalid value.", self.pos)
        self.pos = m.end()
        kind = m.lastgroup
        return kind, m.group(kind)

    def _scalar(self, kind, tok, pos):
        if kind == "string":
            return json.loads(tok)
        if kind == "const":
            return self._CONST[tok]
        try:
            if any(c in tok for c in ".eE"):
                return _parse_float(tok)
            return _parse_int(tok)
        except _NumberTooBig:
            raise _ParseFailure(NUMBER_TOO_BIG, pos) from None

    def parse(self):
        # Stack entries: [container, pending key, what comes next]; "next" is
        # "key"/"colon"/"value"/"comma". Brackets are handled without the
        # regex so that 500k-deep documents parse in about a second.
        text = self.text
        n = len(text)
        stack: list[list] = []
        while True:
            pos = self.pos
            while pos < n and text[pos] in " \t\n\r":
                pos += 1
            if pos >= n:
                raise _ParseFailure("Invalid value.", pos)
            ch = text[pos]
            top = stack[-1] if stack else None
            if ch in "[{":
                if top is not None and top[2] != "value":
                    raise _ParseFailure("Invalid value.", pos)
                new = [] if ch == "[" else {}
                if top is not None:
                    self._add(top, new)
                stack.append([new, None, "value" if ch == "[" else "key"])
                self.pos = pos + 1
                continue
            if ch in "]}":
                if top is None or (ch == "]") != isinstance(top[0], list):
                    raise _ParseFailure("Invalid value.", pos)
                if top[2] not in ("comma", "value" if ch == "]" else "key") or (
                    top[2] != "comma" and top[0]
                ):
                    raise _ParseFailure("Invalid value.", pos)
                stack.pop()
                self.pos = pos + 1
                if not stack:
                    return top[0]
                continue
            if ch == ",":
                if top is None or top[2] != "comma":
                    raise _ParseFailure("Invalid value.", pos)
                top[2] = "key" if isinstance(top[0], dict) else "value"
                self.pos = pos + 1
                continue
            if ch == ":":
                if top is None or top[2] != "colon":
                    raise _ParseFailure("Missing a colon after a name of object member.", pos)
                top[2] = "value"
                self.pos = pos + 1
                continue
            self.pos = pos
            kind, tok = self._next()
            if top is not None and top[2] == "key":
                if kind != "string":
                    raise _ParseFailure("Missing a name for object member.", pos)
                top[1] = json.loads(tok)
                top[2] = "colon"
                continue
            if top is not None and top[2] != "value":
                raise _ParseFailure("Invalid value.", pos)
            value = self._scalar(kind, tok, pos)
            if top is None:
                return value
            self._add(top, value)

    @staticmethod
    def _add(top, value):
        container = top[0]
        if isinstance(container, list):
            container.append(value)
        else:
            container[top[1]] = value
        top[2] = "comma"


def json_type(value) -> str:
    """rapidjson's type name of a parsed JSON value."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


MAX_DEBUG_STRING_BYTES = 256


def _debug_scalar(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return format_float(value, double=True)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def value_to_string(value, max_bytes: int = MAX_DEBUG_STRING_BYTES) -> str:
    """``JsonValueToDebugString``: an excerpt of a JSON value for messages.

    TF Serving writes the value with rapidjson's PrettyWriter (4-space
    indent, arrays on one line) and stops once ``kMaxJsonDebugStringBytes``
    (256) bytes are written, so an error never echoes a whole request. The
    walk here is iterative and stops as early; the text is cut at
    ``max_bytes`` bytes (TF Serving may finish the token it is on, which for
    a long string would be the whole string).
    """
    out: list[str] = []
    size = 0
    # Stack of (iterator, is_object, depth, first).
    stack: list[list] = []

    def emit(text: str) -> bool:
        nonlocal size
        out.append(text)
        size += len(text.encode("utf-8", errors="surrogateescape"))
        return size < max_bytes

    def open_value(v, depth) -> bool:
        if isinstance(v, dict):
            stack.append([iter(v.items()), True, depth + 1, True])
            return emit("{")
        if isinstance(v, list):
            stack.append([iter(v), False, depth + 1, True])
            return emit("[")
        return emit(_debug_scalar(v))

    going = open_value(value, 0)
    while going and stack:
        top = stack[-1]
        it, is_object, depth, first = top
        try:
            item = next(it)
        except StopIteration:
            stack.pop()
            if is_object:
                going = emit("}" if first else "\n" + "    " * (depth - 1) + "}")
            else:
                going = emit("]")
            continue
        top[3] = False
        if is_object:
            key, v = item
            prefix = ("\n" if first else ",\n") + "    " * depth
            going = emit(prefix + json.dumps(str(key), ensure_ascii=False) + ": ")
            if going:
                going = open_value(v, depth)
        else:
            going = (first or emit(", ")) and open_value(item, depth)
    text = "".join(out)
    raw = text.encode("utf-8", errors="surrogateescape")
    if len(raw) > max_bytes:
        text = raw[:max_bytes].decode("utf-8", errors="ignore")
    return text


# --------------------------------------------------------------------------
# JSON values -> numpy tensors.
# --------------------------------------------------------------------------


def _type_error(value, dtype: int) -> errors.ServingError:
    return errors.invalid_argument(
        f"JSON Value: {value_to_string(value)} Type: {json_type(value)} "
        f"is not of expected type: {T.dtype_name(dtype)}"
    )


def is_base64_object(value) -> bool:
    """``{"b64": "<string>"}`` with no other key."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(B64_KEY), str)


def decode_base64_object(value) -> bytes:
    if not is_base64_object(value):
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(value)} not formatted correctly for base64 data"
        )
    text = value[B64_KEY]
    # absl::Base64Unescape: standard alphabet, padding optional.
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise errors.invalid_argument("Unable to base64 decode")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise errors.invalid_argument("Unable to base64 decode")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_argument("Unable to base64 decode") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value, dtype: int):
    if dtype in (T.DT_FLOAT, T.DT_DOUBLE):
        if not _is_number(value):
            raise _type_error(value, dtype)
        if isinstance(value, int):
            try:
                return float(value)
            except OverflowError:
                return math.inf if value > 0 else -math.inf
        return value
    if dtype in (T.DT_INT32, T.DT_INT16, T.DT_INT8, T.DT_UINT8):
        if not _is_int(value) or not _INT32[0] <= value <= _INT32[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == T.DT_INT64:
        if not _is_int(value) or not _INT64[0] <= value <= _INT64[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == T.DT_UINT32:
        if not _is_int(value) or not _UINT32[0] <= value <= _UINT32[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == T.DT_UINT64:
        if not _is_int(value) or not _UINT64[0] <= value <= _UINT64[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == T.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype == T.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return utf8(value)
    raise errors.error_for(
        "UNIMPLEMENTED",
        f"Conversion of JSON Value: {value_to_string(value)} to type: {T.dtype_name(dtype)}",
    )


def dense_shape(value) -> list[int]:
    """``GetDenseTensorShape``: follows the first element of each list."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(value)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != T.DT_STRING:
                raise _type_error(value, dtype)
            out.append(decode_base64_object(value))
        else:
            out.append(_scalar(value, dtype))
        return
    if level >= rank:
        raise errors.invalid_argument(
            f"Encountered list at unexpected level: {level} expected < {rank}"
        )
    if len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    if level == rank - 1 and dtype in (T.DT_FLOAT, T.DT_DOUBLE):
        # The innermost list of a float tensor: the common case, kept tight.
        for v in value:
            if type(v) is float:
                out.append(v)
            elif isinstance(v, (list, dict)):
                _fill(v, level + 1, shape, dtype, out)
            else:
                out.append(_scalar(v, dtype))
        return
    for v in value:
        _fill(v, level + 1, shape, dtype, out)


def _to_array(values: list, shape: list[int], dtype: int) -> np.ndarray:
    if dtype == T.DT_STRING:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr.reshape(shape)
    if dtype in (T.DT_FLOAT, T.DT_DOUBLE):
        # Out-of-range values become +-inf and denormals 0, as in TF Serving.
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(values, dtype=np.float64).astype(T.numpy_dtype(dtype)).reshape(shape)
    if dtype in (T.DT_INT8, T.DT_INT16, T.DT_UINT8, T.DT_UINT16):
        # int_val holds int32; the tensor keeps the low bits, as Tensor::FromProto.
        return np.asarray(values, dtype=np.int64).astype(T.numpy_dtype(dtype)).reshape(shape)
    return np.asarray(values, dtype=T.numpy_dtype(dtype)).reshape(shape)


def json_to_array(value, dtype: int) -> np.ndarray:
    """One JSON value (scalar, list, nested lists, b64 objects) as a tensor.

    Raises:
        ServingError: INVALID_ARGUMENT with ``FillTensorProto``'s messages.
    """
    shape = dense_shape(value)
    values: list = []
    _fill(value, 0, shape, dtype, values)
    return _to_array(values, shape, dtype)


def parse_predict_request(doc, get_input_dtypes):
    """``FillPredictRequestFromJson``.

    Args:
        doc: the parsed body (any JSON value).
        get_input_dtypes: ``signature_name -> {input name: dtype enum}``; it
            resolves the servable, so servable errors come after JSON errors.

    Returns:
        (signature_name, {input name: ndarray}, ROW or COLUMNAR).
    """
    if not isinstance(doc, dict):
        raise errors.invalid_argument(f"JSON Value: {value_to_string(doc)} Is not object")
    signature_name = signature_of(doc)
    dtypes = get_input_dtypes(signature_name)
    if not dtypes:
        raise errors.invalid_argument(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    if INSTANCES_KEY in doc:
        if INPUTS_KEY in doc:
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(doc)} Not formatted correctly expecting only "
                f"one of '{INPUTS_KEY}' or '{INSTANCES_KEY}' keys to exist "
            )
        instances = doc[INSTANCES_KEY]
        if not isinstance(instances, list):
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(doc)} Expecting '{INSTANCES_KEY}' to be an list/array"
            )
        if not instances:
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(doc)} No values in '{INSTANCES_KEY}' array"
            )
        return signature_name, _from_instances(instances, dtypes), ROW
    if INPUTS_KEY in doc:
        return signature_name, _from_inputs(doc[INPUTS_KEY], dtypes), COLUMNAR
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def signature_of(doc: dict) -> str:
    if SIGNATURE_KEY not in doc:
        return ""
    name = doc[SIGNATURE_KEY]
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(doc)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def _is_element_object(value) -> bool:
    return isinstance(value, dict) and not is_base64_object(value)


def _from_instances(instances: list, dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    names = sorted(dtypes)
    if not isinstance(instances[0], dict) and len(dtypes) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple "
            "input tensors required as per tensorinfo_map"
        )
    objects = _is_element_object(instances[0])
    columns: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def add(item, name):
        if name not in dtypes:
            raise errors.invalid_argument(f"JSON object: does not have named input: {name}")
        shape = dense_shape(item)
        values: list = []
        _fill(item, 0, shape, dtypes[name], values)
        size = len(values)
        if name not in sizes:
            sizes[name] = size
            shapes[name] = shape
        elif sizes[name] != size:
            raise errors.invalid_argument(f"Expecting tensor size: {sizes[name]} but got: {size}")
        elif shapes[name] != shape:
            raise errors.invalid_argument(
                f"Expecting shape {_shape_str(shapes[name])} but got: {_shape_str(shape)}"
            )
        columns.setdefault(name, []).extend(values)

    for i, elem in enumerate(instances):
        if objects:
            if not _is_element_object(elem):
                raise errors.invalid_argument(
                    f"Expecting object but got list at item {i} of input list"
                )
            for key, item in elem.items():
                try:
                    add(item, key)
                except errors.ServingError as e:
                    raise errors.invalid_argument(
                        f"Failed to process element: {i} key: {key} of 'instances' list. "
                        f"Error: {e.code}: {e.message}"
                    ) from None
            if set(elem) != set(names):
                raise errors.invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{value_to_string(elem)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_element_object(elem):
                raise errors.invalid_argument(
                    f"Expecting value/list but got object at item {i} of input list"
                )
            try:
                add(elem, names[0])
            except errors.ServingError as e:
                raise errors.invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. "
                    f"Error: {e.code}: {e.message}"
                ) from None
    n = len(instances)
    return {
        name: _to_array(values, [n] + shapes[name], dtypes[name])
        for name, values in columns.items()
    }


def _from_inputs(value, dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_base64_object(value):
        if len(dtypes) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple "
                "input tensors required as per tensorinfo_map"
            )
        name = next(iter(dtypes))
        return {name: json_to_array(value, dtypes[name])}
    out = {}
    for name in sorted(dtypes):
        if name not in value:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        out[name] = json_to_array(value[name], dtypes[name])
    return out


def _shape_str(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


# --------------------------------------------------------------------------
# numpy tensors -> JSON text.
# --------------------------------------------------------------------------

_pack_f = struct.Struct("f")


def format_float(value: float, double: bool = False) -> str:
    """``WriteDecimal``: 6 significant digits unless that loses the value.

    Example:
        >>> format_float(9000000.0), format_float(3e-05), format_float(42.0)
        ('9e+06', '3e-05', '42.0')
    """
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    text = "%g" % value
    if double:
        if float(text) != value:
            text = "%.17g" % value
    else:
        try:
            back = _pack_f.unpack(_pack_f.pack(float(text)))[0]
        except OverflowError:
            back = None
        if back != value:
            text = "%.9g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _writer(dtype: int, as_bytes: bool):
    if dtype in (T.DT_FLOAT, T.DT_HALF):
        return format_float
    if dtype == T.DT_DOUBLE:
        return lambda v: format_float(v, double=True)
    if dtype in (
        T.DT_INT8, T.DT_INT16, T.DT_INT32, T.DT_INT64,
        T.DT_UINT8, T.DT_UINT16, T.DT_UINT32, T.DT_UINT64,
    ):
        return str
    if dtype == T.DT_BOOL:
        return lambda v: "true" if v else "false"
    if dtype == T.DT_STRING:
        if as_bytes:
            return lambda v: '{"b64": "' + base64.b64encode(v).decode("ascii") + '"}'
        return lambda v: json.dumps(
            # Bytes that are not UTF-8 go out raw, as TF Serving writes them.
            v.decode("utf-8", errors="surrogateescape") if isinstance(v, bytes) else str(v),
            ensure_ascii=False,
        )
    return None


def _items(array: np.ndarray, write) -> list[str]:
    """The JSON text of each element of ``array`` along axis 0."""
    shape = array.shape
    if array.size == 0:
        inner = json.dumps(np.zeros(shape[1:]).tolist()) if len(shape) > 1 else None
        return [inner] * shape[0] if inner is not None else []
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    flat = list(array.reshape(-1)) if array.dtype == object else array.reshape(-1).tolist()
    items = [write(v) for v in flat]
    for d in reversed(shape[1:]):
        items = ["[" + ",".join(items[i : i + d]) + "]" for i in range(0, len(items), d)]
    return items


def _nested(array: np.ndarray, write) -> str:
    if array.ndim == 0:
        value = array[()]
        if array.dtype == np.float16:
            value = float(value)
        return write(value if array.dtype == object else array.item())
    return "[" + ",".join(_items(array, write)) + "]"


def _check_writable(name: str, dtype: int, as_bytes: bool):
    write = _writer(dtype, as_bytes)
    if write is None:
        raise errors.invalid_argument(
            f"Failed to write JSON value for tensor type: {T.dtype_name(dtype)}"
        )
    return write


def predict_response_json(outputs: dict[str, np.ndarray], dtypes: dict[str, int], fmt: str) -> str:
    """``MakeJsonFromTensors``: ``{"predictions": ...}`` or ``{"outputs": ...}``."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    writers = {
        n: _check_writable(n, dtypes[n], dtypes[n] == T.DT_STRING and n.endswith(BYTES_SUFFIX))
        for n in names
    }
    if fmt == COLUMNAR:
        if len(names) == 1:
            body = _nested(outputs[names[0]], writers[names[0]])
        else:
            body = "{" + ",".join(
                json.dumps(n) + ": " + _nested(outputs[n], writers[n]) for n in names
            ) + "}"
        return '{"outputs": ' + body + "}"
    batch = -1
    for n in names:
        array = outputs[n]
        if array.ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {n} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise errors.invalid_argument(
                f"Tensor name: {n} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    rows_per_name = {n: _items(outputs[n], writers[n]) for n in names}
    if len(names) == 1:
        rows = rows_per_name[names[0]]
    else:
        keys = {n: json.dumps(n) + ": " for n in names}
        rows = [
            "{" + ",".join(keys[n] + rows_per_name[n][i] for n in names) + "}"
            for i in range(batch)
        ]
    return '{"predictions": [' + ",".join(rows) + "]}"


# --------------------------------------------------------------------------
# Classify / regress.
# --------------------------------------------------------------------------


def parse_classify_regress_request(doc):
    """``FillClassifyRegressRequestFromJson``.

    Returns:
        (signature_name, context tf.train.Example or None, [tf.train.Example]).
    """
    from tensorflow.core.example import example_pb2

    if not isinstance(doc, dict):
        raise errors.invalid_argument(f"JSON Value: {value_to_string(doc)} Is not object")
    signature_name = signature_of(doc)
    context = None
    if CONTEXT_KEY in doc:
        context = example_pb2.Example()
        _fill_example(doc[CONTEXT_KEY], context)
    if EXAMPLES_KEY not in doc:
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(doc)} When method is classify, key "
            f"'{EXAMPLES_KEY}' is expected and was not found"
        )
    items = doc[EXAMPLES_KEY]
    if not isinstance(items, list):
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(doc)} Expecting '{EXAMPLES_KEY}' value to be an list/array"
        )
    if not items:
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(doc)} '{EXAMPLES_KEY}' value is an empty array"
        )
    examples = []
    for item in items:
        ex = example_pb2.Example()
        _fill_example(item, ex)
        examples.append(ex)
    return signature_name, context, examples


_KIND_NAMES = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64", None: "UNKNOWN"}


def _fill_example(value, example) -> None:
    if not isinstance(value, dict):
        raise errors.invalid_argument(
            f"Example must be JSON object but got JSON {json_type(value)}"
        )
    for name, content in value.items():
        feature = example.features.feature[name]
        feature.Clear()
        for v in content if isinstance(content, list) else [content]:
            _add_feature_value(v, name, feature)


def _add_feature_value(value, name: str, feature) -> None:
    def kind_ok(kind):
        current = feature.WhichOneof("kind")
        if current is not None and current != kind:
            raise errors.invalid_argument(
                f"Unexpected element type in feature: {name} expecting type: "
                f"{_KIND_NAMES[current]}"
            )

    if value is None or isinstance(value, list):
        raise errors.invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
        )
    if isinstance(value, bool):
        kind_ok("int64_list")
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        if not is_base64_object(value):
            raise errors.invalid_argument(
                f"Feature: {name} has element with unexpected JSON type: Object"
            )
        kind_ok("bytes_list")
        feature.bytes_list.value.append(decode_base64_object(value))
    elif isinstance(value, str):
        kind_ok("bytes_list")
        feature.bytes_list.value.append(utf8(value))
    elif isinstance(value, int) and _INT64[0] <= value <= _UINT64[1]:
        kind_ok("int64_list")
        if value > _INT64[1]:
            raise errors.invalid_argument(
                f"Feature: {name} has uint64 element. Only int64_t is supported."
            )
        feature.int64_list.value.append(value)
    else:
        # A JSON double (rapidjson also stores integers past uint64 as doubles).
        kind_ok("float_list")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
        feature.float_list.value.append(number)


def classification_json(results: list[list[tuple[str, float]]]) -> str:
    """``{"results": [[["label", score], ...], ...]}``."""
    if not results:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classes in results:
        rows.append(
            "["
            + ",".join(
                "[" + json.dumps(label, ensure_ascii=False) + ", " + format_float(score) + "]"
                for label, score in classes
            )
            + "]"
        )
    return '{"results": [' + ",".join(rows) + "]}"


def regression_json(values: list[float]) -> str:
    """``{"results": [v, ...]}``."""
    if not values:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ",".join(format_float(v) for v in values) + "]}"


# Messages that do not quote a JSON value (TensorFlow's own, signature
# dumps, names from the URL) are cut here, so that no error answer grows with
# the request: TF Serving bounds the JSON excerpts (value_to_string); this
# also bounds the rest.
MAX_ERROR_MESSAGE_BYTES = 8192


def bounded_message(message: str, max_bytes: int = MAX_ERROR_MESSAGE_BYTES) -> str:
    """``message`` cut to at most about ``max_bytes`` bytes."""
    raw = message.encode("utf-8", errors="surrogateescape")
    if len(raw) <= max_bytes:
        return message
    head = raw[:max_bytes].decode("utf-8", errors="surrogateescape")
    return f"{head}... [{len(raw) - max_bytes} more bytes]"


def error_json(message: str) -> str:
    """``MakeJsonFromStatus``: ``{"error": "<message>"}``.

    Bytes of the message that are not UTF-8 (lone surrogates from
    ``decode_body`` or a TensorFlow error) stay raw, as rapidjson writes them;
    encode the result with ``errors="surrogateescape"``.
    """
    return json.dumps({"error": bounded_message(message)}, ensure_ascii=False)
