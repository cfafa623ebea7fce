"""Alert notes: Markdown rendered from sandboxed Jinja2 templates."""

from eqlwatch.notes.check import check_template, check_templates
from eqlwatch.notes.facts import summarise
from eqlwatch.notes.render import DEFAULT_TEMPLATE, Note, NoteRenderer, note_context
from eqlwatch.notes.view import EventView, field

__all__ = [
    "DEFAULT_TEMPLATE",
    "EventView",
    "Note",
    "NoteRenderer",
    "check_template",
    "check_templates",
    "field",
    "note_context",
    "summarise",
]
