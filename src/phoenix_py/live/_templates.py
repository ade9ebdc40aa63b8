"""Where a view's or a component's template comes from: ``template`` (Jinja2 source) or
``template_file`` (a path relative to the module that defines the class)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar


class Templated:
    """The template class attributes of ``LiveView`` and ``LiveComponent``."""

    template: ClassVar[str | None] = None
    template_file: ClassVar[str | None] = None

    @classmethod
    def template_source(cls) -> tuple[str, str]:
        """The template's source and the name its errors give."""
        if cls.template_file is not None:
            module = sys.modules.get(cls.__module__)
            base = Path(module.__file__).parent if module and module.__file__ else Path()
            path = base / cls.template_file
            return path.read_text(encoding="utf-8"), str(path)
        if cls.template is not None:
            return cls.template, f"{cls.__module__}.{cls.__qualname__}.template"
        raise TypeError(f"{cls.__qualname__} needs a template or a template_file")
