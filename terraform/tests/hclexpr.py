"""A small evaluator for the HCL expressions the structure tests need to compute.

hcl2 (bc-python-hcl2) hands expressions back as text ("${replace(local.vocab.names.member,
"{peer}",tostring(n))}.${var.cluster_name}"). The tests evaluate the module's OWN formulas
(names, seeds, tags, timeouts) for several cluster shapes instead of restating them, so they
need to compute a small subset of HCL: references (var.*, local.*, each.*, path.module, n),
string templates, numbers, null, arithmetic, comparisons, !, &&, ||, the conditional
operator, indexing, and the functions below. Anything else raises Unsupported, so a test
can never pass by mis-reading an expression.

Expressions are read from the .tf text itself (RawHCL), not from hcl2's output: hcl2 drops
parentheses ("(n + 1) % z" comes back as "n + 1 % z"), which would change what they mean.
"""

import ipaddress
import json
import os
import re


class Unsupported(ValueError):
    pass


def _cidrhost(net, num):
    network = ipaddress.ip_network(net, strict=False)
    if num >= network.num_addresses:
        raise ValueError(f"prefix of {net} does not accommodate host {num}")
    return str(network.network_address + int(num))


FUNCTIONS = {
    "replace": lambda s, a, b: str(s).replace(a, b),
    "tostring": lambda x: _tostring(x),
    "tonumber": lambda x: _number(x),
    "cidrhost": _cidrhost,
    "length": lambda x: len(x),
    "jsondecode": lambda s: json.loads(s),
    "split": lambda sep, s: s.split(sep),
    "pow": lambda a, b: a ** b,
    "floor": lambda x: int(x // 1),
    "can": None,  # special-cased: evaluated lazily
    "try": None,  # special-cased: evaluated lazily
    "cidrnetmask": lambda net: str(ipaddress.IPv4Network(net, strict=False).netmask),
    "alltrue": lambda xs: all(xs),
    "sort": lambda xs: sorted(xs),
    "keys": lambda m: sorted(m),
    "concat": lambda *ls: [x for part in ls for x in part],
}


def _tostring(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _number(x):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    f = float(x)
    return int(f) if f.is_integer() else f


TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>[0-9]+(?:\.[0-9]+)?)
  | (?P<str>")
  | (?P<op>==|!=|>=|<=|=>|&&|\|\||[-+*/%<>?:!(),\[\].={}])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
""", re.X)


class Evaluator:
    """resolve(name) -> value for the first part of a reference (var, local, each, n, ...)."""

    def __init__(self, resolve, module_dir=None):
        self.resolve = resolve
        self.module_dir = module_dir

    # -- templates -------------------------------------------------------------------------

    def template(self, text):
        """Evaluate a template: literal text with ${...} interpolations ($${ is a literal ${).
        A template that is exactly one interpolation yields that value unconverted, as in
        Terraform."""
        if text.startswith("${") and self._matching_brace(text, 2) == len(text) - 1:
            return self.expr(text[2:-1])
        out, i = [], 0
        while True:
            j = text.find("${", i)
            if j < 0:
                out.append(text[i:])
                return "".join(out)
            if j > 0 and text[j - 1] == "$":
                out.append(text[i:j - 1] + "${")
                i = j + 2
                continue
            out.append(text[i:j])
            end = self._matching_brace(text, j + 2)
            out.append(_tostring(self.expr(text[j + 2:end])))
            i = end + 1

    @staticmethod
    def _matching_brace(text, start):
        depth, i, in_str = 1, start, False
        while i < len(text):
            c = text[i]
            if in_str:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        raise Unsupported(f"unbalanced braces in {text!r}")

    # -- expressions -----------------------------------------------------------------------

    def expr(self, text):
        # Re-entrant: resolving a local evaluates another expression with this same object.
        saved = (getattr(self, "text", None), getattr(self, "toks", None), getattr(self, "k", None))
        try:
            self.text = text
            self.toks = self._tokenize(text)
            self.k = 0
            value = self._ternary()
            if self.k != len(self.toks):
                raise Unsupported(f"trailing input in {text!r}: {self.toks[self.k:]}")
            return value
        finally:
            self.text, self.toks, self.k = saved

    def _tokenize(self, text):
        toks, i = [], 0
        while i < len(text):
            m = TOKEN.match(text, i)
            if not m:
                raise Unsupported(f"cannot tokenize {text[i:]!r}")
            kind = m.lastgroup
            if kind == "ws":
                i = m.end()
                continue
            if kind == "str":
                j, buf = i + 1, []
                while text[j] != '"':
                    if text[j] == "\\":
                        buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(text[j + 1], text[j + 1]))
                        j += 2
                        continue
                    if text.startswith("${", j):
                        end = self._matching_brace(text, j + 2)
                        buf.append(text[j:end + 1])
                        j = end + 1
                        continue
                    buf.append(text[j])
                    j += 1
                toks.append(("str", "".join(buf)))
                i = j + 1
                continue
            toks.append((kind, m.group(kind)))
            i = m.end()
        return toks

    def _peek(self, value=None):
        if self.k < len(self.toks) and (value is None or self.toks[self.k][1] == value):
            return self.toks[self.k]
        return None

    def _take(self, value=None):
        tok = self._peek(value)
        if tok is None:
            raise Unsupported(f"expected {value!r} at {self.toks[self.k:]!r} in {self.text!r}")
        self.k += 1
        return tok

    def _ternary(self):
        cond = self._or()
        if self._peek("?"):
            self._take("?")
            a = self._ternary()
            self._take(":")
            b = self._ternary()
            return a if cond else b
        return cond

    def _or(self):
        v = self._and()
        while self._peek("||"):
            self._take()
            w = self._and()
            v = bool(v) or bool(w)
        return v

    def _and(self):
        v = self._cmp()
        while self._peek("&&"):
            self._take()
            w = self._cmp()
            v = bool(v) and bool(w)
        return v

    def _cmp(self):
        v = self._add()
        while self._peek() and self._peek()[1] in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take()[1]
            w = self._add()
            v = {"==": lambda: v == w, "!=": lambda: v != w, "<": lambda: v < w, ">": lambda: v > w,
                 "<=": lambda: v <= w, ">=": lambda: v >= w}[op]()
        return v

    def _add(self):
        v = self._mul()
        while self._peek() and self._peek()[1] in ("+", "-"):
            op = self._take()[1]
            w = self._mul()
            v = _number(v) + _number(w) if op == "+" else _number(v) - _number(w)
        return v

    def _mul(self):
        v = self._unary()
        while self._peek() and self._peek()[1] in ("*", "/", "%"):
            op = self._take()[1]
            w = self._unary()
            v, w = _number(v), _number(w)
            v = v * w if op == "*" else (v / w if op == "/" else v % w)
        return v

    def _unary(self):
        if self._peek("!"):
            self._take()
            return not self._unary()
        if self._peek("-"):
            self._take()
            return -_number(self._unary())
        return self._postfix(self._primary())

    def _postfix(self, v):
        while True:
            if self._peek("."):
                self._take()
                name = self._take()[1]
                if not isinstance(v, dict) or name not in v:
                    raise Unsupported(f"no attribute {name!r} in {self.text!r}")
                v = v[name]
            elif self._peek("["):
                self._take()
                idx = self._ternary()
                self._take("]")
                v = v[int(idx)] if isinstance(v, list) else v[idx]
            else:
                return v

    def _primary(self):
        kind, val = self._take()
        if kind == "num":
            return _number(val)
        if kind == "str":
            return self.template(val) if "${" in val else val
        if val == "(":
            v = self._ternary()
            self._take(")")
            return v
        if val == "[":
            items = []
            while not self._peek("]"):
                items.append(self._ternary())
                if self._peek(","):
                    self._take(",")
            self._take("]")
            return items
        if val == "{":
            obj = {}
            while not self._peek("}"):
                if self._peek("("):
                    self._take("(")
                    key = self._ternary()
                    self._take(")")
                else:
                    kind, key = self._take()
                    if kind == "str" and "${" in key:
                        key = self.template(key)
                if not (self._peek("=") or self._peek(":")):
                    raise Unsupported(f"expected = in object literal of {self.text!r}")
                self._take()
                obj[key] = self._ternary()
                if self._peek(","):
                    self._take(",")
            self._take("}")
            return obj
        if kind == "ident":
            if val in ("None", "null"):
                return None
            if val in ("true", "True"):
                return True
            if val in ("false", "False"):
                return False
            if self._peek("("):
                return self._call(val)
            if val == "path":
                self._take(".")
                self._take("module")
                return self.module_dir
            return self.resolve(val)
        raise Unsupported(f"unexpected {val!r} in {self.text!r}")

    def _call(self, name):
        self._take("(")
        if name == "can":
            start = self.k
            depth = 0
            while True:  # skip the argument; evaluate it on its own
                tok = self._take()
                if tok[1] in ("(", "["):
                    depth += 1
                elif tok[1] in (")", "]"):
                    if depth == 0:
                        break
                    depth -= 1
            sub = Evaluator(self.resolve, self.module_dir)
            sub.text, sub.toks, sub.k = self.text, self.toks[start:self.k - 1], 0
            try:
                sub._ternary()
                return True
            except (ValueError, KeyError, IndexError, TypeError):
                return False
        if name == "try":
            start, depth, cut = self.k, 0, []
            while True:  # split the arguments at top-level commas; evaluate lazily
                tok = self._take()
                if tok[1] in ("(", "[", "{"):
                    depth += 1
                elif tok[1] in (")", "]", "}"):
                    if depth == 0:
                        break
                    depth -= 1
                elif tok[1] == "," and depth == 0:
                    cut.append(self.k - 1)
            bounds = [start] + [c + 1 for c in cut]
            ends = cut + [self.k - 1]
            for a, b in zip(bounds, ends):
                sub = Evaluator(self.resolve, self.module_dir)
                sub.text, sub.toks, sub.k = self.text, self.toks[a:b], 0
                try:
                    return sub._ternary()
                except (ValueError, KeyError, IndexError, TypeError):
                    continue
            raise ValueError("try(): no argument could be evaluated")
        if name == "file":
            path = self._ternary()
            self._take(")")
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        args = []
        while not self._peek(")"):
            args.append(self._ternary())
            if self._peek(","):
                self._take(",")
        self._take(")")
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise Unsupported(f"function {name}() is not supported")
        return fn(*args)


# ----------------------------------------------------------------------------------------------
# Raw HCL: blocks and attribute expressions as written in the .tf files
# ----------------------------------------------------------------------------------------------

def _skip_string(text, i):
    """text[i] is '"': index just past the closing quote (interpolations may hold strings)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i) or text.startswith("%{", i):
            i = Evaluator._matching_brace(text, i + 2) + 1
            continue
        i += 1
    raise Unsupported("unterminated string")


def _skip_balanced(text, i):
    """text[i] opens ( [ or {: index just past its match."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[text[i]]]
    i += 1
    while stack:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "#" or text.startswith("//", i):
            i = text.find("\n", i)
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
        i += 1
    return i


ITEM = re.compile(r'[ \t]*(?P<name>[A-Za-z_][A-Za-z0-9_-]*|"[^"]*"|\([^)\n]*\))[ \t]*(?P<kind>=(?!=)|:(?!:)|(?P<labels>(?:"[^"]*"[ \t]*)*)\{)')


class RawBody:
    """The top-level attributes (name -> expression text) and nested blocks
    ((type, labels...) -> [RawBody]) of one block body."""

    def __init__(self, text):
        self.attrs, self.blocks = {}, {}
        i = 0
        while i < len(text):
            while i < len(text) and text[i] in " \t\r\n,":
                i += 1
            if i >= len(text):
                break
            if text[i] == "#" or text.startswith("//", i):
                i = text.find("\n", i)
                i = len(text) if i < 0 else i
                continue
            m = ITEM.match(text, i)
            if not m:
                raise Unsupported(f"cannot read HCL at {text[i:i + 60]!r}")
            name = m.group("name").strip('"')
            if m.group("kind") in ("=", ":"):
                j = m.end()
                start = j
                while j < len(text) and text[j] != "\n":
                    c = text[j]
                    if c == '"':
                        j = _skip_string(text, j)
                    elif c in "([{":
                        j = _skip_balanced(text, j)
                    elif c == "#" or text.startswith("//", j):
                        break
                    elif c == "," :
                        break
                    else:
                        j += 1
                expr = text[start:j].strip()
                self.attrs[name] = expr
                i = j
            else:
                brace = m.end() - 1
                end = _skip_balanced(text, brace)
                labels = tuple(re.findall(r'"([^"]*)"', m.group("labels") or ""))
                self.blocks.setdefault((name,) + labels, []).append(RawBody(text[brace + 1:end - 1]))
                i = end

    def block(self, *key):
        found = self.blocks.get(tuple(key), [])
        if len(found) != 1:
            raise KeyError(f"want exactly one block {key}, found {len(found)}")
        return found[0]


def raw_dir(directory):
    """Every top-level block of a directory's .tf files, merged into one RawBody-like view."""
    import glob
    merged = RawBody("")
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        with open(path, encoding="utf-8") as fh:
            body = RawBody(fh.read())
        for key, bodies in body.blocks.items():
            merged.blocks.setdefault(key, []).extend(bodies)
    merged.locals = {}
    for b in merged.blocks.get(("locals",), []):
        merged.locals.update(b.attrs)
    return merged


def module_evaluator(raw, module_dir, variables=None, extra=None, local_overrides=None):
    """An Evaluator over a module's raw HCL: var.X from `variables` or the variable's default,
    local.X evaluated from the module's own locals, and the names in `extra` (n, each)."""
    variables = dict(variables or {})
    extra = dict(extra or {})
    cache = dict(local_overrides or {})

    class Namespace(dict):
        def __init__(self, getter):
            super().__init__()
            self.getter = getter

        def __contains__(self, key):
            try:
                self.getter(key)
                return True
            except KeyError:
                return False

        def __getitem__(self, key):
            return self.getter(key)

    def var(name):
        if name in variables:
            return variables[name]
        decl = raw.block("variable", name)
        if "default" not in decl.attrs:
            raise KeyError(f"var.{name} has no default and no value")
        return ev.expr(decl.attrs["default"])

    def local(name):
        if name not in cache:
            if name not in raw.locals:
                raise KeyError(f"local.{name}")
            cache[name] = ev.expr(raw.locals[name])
        return cache[name]

    def resolve(head):
        if head in extra:
            return extra[head]
        if head == "var":
            return Namespace(var)
        if head == "local":
            return Namespace(local)
        raise Unsupported(f"unknown reference {head}")

    ev = Evaluator(resolve, module_dir=os.path.abspath(module_dir))
    return ev
