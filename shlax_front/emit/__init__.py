"""Emitters: turn a parsed document (and, later, rewritten IR) back into text.

``containerfile.emit`` is the identity emitter every rewrite renders through: untouched instructions are
replayed from the original text, so ``emit(parse(text)) == text`` byte for byte.
"""

from shlax_front.emit.containerfile import emit

__all__ = ["emit"]
