"""Calculator: one component, many events, pocket-calculator semantics (left to right)."""

from __future__ import annotations

from typing import Literal

from stube import Component, event

Op = Literal["add", "sub", "mul", "div"]

#: Display symbol for each operator (also the button labels).
SYMBOLS: dict[str, str] = {"add": "+", "sub": "−", "mul": "×", "div": "÷"}

ERR = "Err"


def fmt(x: float) -> str:
    """Integers without ".0"; others without float noise."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.10g}"


def apply(a: float, op: str, b: float) -> float | None:
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return None if b == 0 else a / b
    raise ValueError(op)


class Calculator(Component):
    """State: the display text, the pending operand and operator, and whether the next digit starts fresh."""

    name = "demo.calc"
    template = "demos/calc.html"

    def __init__(self) -> None:
        self.display = "0"
        self.acc: float | None = None
        self.op: str | None = None
        self.fresh = True

    @event
    def digit(self, d: str) -> None:
        if d not in "0123456789." or len(d) != 1:
            return
        if self.display == ERR:
            self.clear()
        if self.fresh:
            self.display = "0." if d == "." else d
            self.fresh = False
        elif d == "." and "." in self.display:
            return
        elif self.display == "0" and d != ".":
            self.display = d
        elif len(self.display) < 16:
            self.display += d

    @event
    def operator(self, op: Op) -> None:
        if self.display == ERR:
            return
        if self.op is not None and not self.fresh:
            if not self._reduce():
                return
        else:
            self.acc = float(self.display)
        self.op = op
        self.fresh = True

    @event
    def equals(self) -> None:
        if self.display == ERR or self.op is None:
            return
        if self._reduce():
            self.op = None
            self.fresh = True

    @event
    def clear(self) -> None:
        self.display, self.acc, self.op, self.fresh = "0", None, None, True

    @event
    def negate(self) -> None:
        if self.display in (ERR, "0"):
            return
        self.display = self.display[1:] if self.display.startswith("-") else "-" + self.display

    def _reduce(self) -> bool:
        result = apply(self.acc or 0.0, self.op or "add", float(self.display))
        if result is None:
            self.display, self.acc, self.op, self.fresh = ERR, None, None, True
            return False
        self.acc = result
        self.display = fmt(result)
        self.fresh = True
        return True
