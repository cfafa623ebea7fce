"""Python generated for note templates: the sandbox's own results, with fewer steps.

Jinja compiles a template into Python source; `NoteCodeGenerator` changes four things in
it, none of which changes what a template renders or what the sandbox allows:

- `x["k"]` and `x.k` with a constant string key: when `x` is exactly a `dict` holding that
  key, the generated code reads the item inline, which is what the immutable sandbox
  returns for it (`x.k` only for names that are not dict attributes: those stay methods).
  Anything else, a missing key included, calls `environment.getitem/getattr` as before,
  so undefined values and sandbox errors are raised by the same code.
- `x.get("k")`, `x.get("k", default)`, `x.items()`, `.keys()`, `.values()` with constant
  arguments on an exact `dict` call the method directly: the sandbox allows these readers
  and calls them as they are.
- `x is none` is `x is None` when the environment's `none` test is jinja's own (checked
  when compiling: a note environment's tests, like its globals, are fixed once built).
- The pieces of one `{{ ... }}`/text run are written by one `yield "...%s..." % (...)`
  instead of one `yield str(...)` each: `%s` converts with `str()` exactly as jinja's
  `str(...)` does, and every piece is still evaluated in order, on its own source line
  (tracebacks keep pointing at the template line that failed). Output into buffers
  (macros, `{% set %}` blocks), autoescape, `finalize` and `{% extends %}` keep jinja's
  own code.

Known edges, neither reachable with note data (JSON-shaped, string keys): a template that
fails part-way through a run of pieces has yielded fewer of them when streamed with
`generate()` (`render()` returns nothing either way); a dict holding a non-string key
whose `__eq__` raises `TypeError`/`LookupError` for a colliding constant key raises that
error inline, where the sandbox would have swallowed it and looked for an attribute.
"""

from __future__ import annotations

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.tests import test_none
from jinja2.utils import concat

DICT_ATTRIBUTES = frozenset(dir(dict))  # what `getattr` finds on a dict before its items


def _const_key(node: nodes.Expr) -> str | None:
    """The subscript's key when it is a constant string, else None."""
    if isinstance(node, nodes.Const) and type(node.value) is str:
        return node.value
    return None


_READER_ARITY = {"get": (1, 2), "items": (0,), "keys": (0,), "values": (0,)}
_CONST_KEY_TYPES = (str, int, bool, type(None))  # hashing and comparing these cannot fail


def _dict_reader_call(node: nodes.Call) -> str | None:
    """`x.get("k")`, `x.get("k", default)`, `x.items()`...: the method name, else None.

    Only positional constant arguments: their evaluation has no effects and `dict.get`
    cannot fail on them, so the inline call behaves as the sandboxed one does.
    """
    target = node.node
    if not isinstance(target, nodes.Getattr) or target.attr not in _READER_ARITY:
        return None
    if node.kwargs or node.dyn_args or node.dyn_kwargs:
        return None
    if len(node.args) not in _READER_ARITY[target.attr]:
        return None
    if not all(isinstance(a, nodes.Const) and type(a.value) in _CONST_KEY_TYPES for a in node.args):
        return None
    return target.attr


def _loop_kwargs(frame: Frame) -> str:
    """The extra keyword arguments jinja passes to calls inside loops and blocks."""
    extra = ", _loop_vars=_loop_vars" if frame.loop_frame else ""
    return extra + (", _block_vars=_block_vars" if frame.block_frame else "")


class NoteCodeGenerator(CodeGenerator):
    """Jinja's code generator with inline dict reads and one `yield` per output run."""

    def _write_dict_read(self, node: nodes.Expr, key: str, slow: str, frame: Frame) -> None:
        """`(t[key] if type(t := <node>) is dict and key in t else environment.<slow>(t, key))`.

        The condition is evaluated first, so the operand is evaluated exactly once.
        """
        temp = self.temporary_identifier()
        self.write(f"({temp}[{key!r}] if type({temp} := ")
        self.visit(node, frame)
        self.write(f") is dict and {key!r} in {temp} else environment.{slow}({temp}, {key!r}))")

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        key = _const_key(node.arg)
        if key is None or self.environment.is_async:
            super().visit_Getitem(node, frame)
            return
        self._write_dict_read(node.node, key, "getitem", frame)

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        if node.attr in DICT_ATTRIBUTES or self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        self._write_dict_read(node.node, node.attr, "getattr", frame)

    @optimizeconst
    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        method = _dict_reader_call(node)
        if method is None or forward_caller or self.environment.is_async:
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        assert isinstance(node.node, nodes.Getattr)  # what `_dict_reader_call` checked
        temp = self.temporary_identifier()
        args = "".join(f", {arg.value!r}" for arg in node.args if isinstance(arg, nodes.Const))
        self.write(f"({temp}.{method}({args[2:]}) if type({temp} := ")
        self.visit(node.node.node, frame)
        self.write(f") is dict else environment.call(context, environment.getattr({temp}, ")
        self.write(f"{method!r}){args}{_loop_kwargs(frame)}))")

    @optimizeconst
    def visit_Test(self, node: nodes.Test, frame: Frame) -> None:
        """`x is none` as `x is None`, when the environment's `none` test is jinja's own."""
        plain = not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
        if not plain or node.name != "none" or self.environment.tests.get("none") is not test_none:
            super().visit_Test(node, frame)
            return
        self.write("(")
        self.visit(node.node, frame)
        self.write(" is None)")

    def _output_pieces(self, node: nodes.Output, frame: Frame) -> list[str | nodes.Expr]:
        """The node's children: runs of constant text joined, expressions as they are.

        Constant folding as jinja does it: text always, other constants when they can be
        evaluated now (otherwise, or when that fails, they are evaluated at render time).
        """
        finalize = self._make_finalize()
        pieces: list[str | nodes.Expr] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                text = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                pieces.append(child)
                continue
            if pieces and isinstance(pieces[-1], str):
                pieces[-1] = concat((pieces[-1], text))
            else:
                pieces.append(text)
        return pieces

    def _plain_generator_output(self, frame: Frame) -> bool:
        """Output that jinja writes as `yield str(...)` (no buffer, escaping or finalize)."""
        return not (
            frame.buffer is not None
            or frame.require_output_check
            or frame.eval_ctx.volatile
            or frame.eval_ctx.autoescape
            or self.environment.finalize is not None
        )

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        if not self._plain_generator_output(frame):
            super().visit_Output(node, frame)
            return
        pieces = self._output_pieces(node, frame)
        values = [p for p in pieces if isinstance(p, nodes.Expr)]
        if len(pieces) < 2 or not values:
            super().visit_Output(node, frame)
            return
        template = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in pieces)
        self.writeline(f"yield {template!r} % (", node)
        self.indent()
        for value in values:
            self.newline(value)
            self.visit(value, frame)
            self.write(",")
        self.outdent()
        self.writeline(")")
