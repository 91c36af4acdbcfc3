"""The ToDo application from the Seaside book: log in or sign up, then manage tasks.

``TodoApp`` is a task component: its ``start()`` calls the login page, and
each ``on_*`` method decides what comes next (register, the list, login
again after logout). The "database" (users and their tasks) lives in the
root's state, so it is part of the conversation and survives a restart
like everything else. The task editor is generated from field descriptions
and opened in a slot of the list (a modal), so the list stays underneath.

Demo users: ``peter@example.com`` / ``seaside`` and ``ada@example.com`` / ``ada``.
Passwords are stored as salted hashes, and never kept in a component's state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any

from stube import Component, answer, call, call_in_slot, event
from stube.effects import Answer, Call, CallInSlot
from stube.ui import CANCEL

SIGN_UP = "demo.seaside-todo.sign-up"

FILTERS: list[tuple[str, str]] = [("all", "All"), ("completed", "Completed"), ("pending", "Pending"),
                                  ("missed", "Missed")]

#: The editor is generated from these descriptions (the book's "Magritte" idea, in miniature).
TASK_FIELDS: list[dict[str, Any]] = [
    {"name": "title", "label": "Task Name", "kind": "text", "max": 60},
    {"name": "deadline", "label": "Deadline", "kind": "date"},
    {"name": "completed", "label": "Completed?", "kind": "select", "options": [["no", "No"], ["yes", "Yes"]]},
    {"name": "description", "label": "Description", "kind": "textarea", "max": 500},
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TITLE = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")


def today() -> dt.date:
    return dt.date.today()


def hash_password(password: str, salt: str | None = None) -> dict[str, str]:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
    return {"salt": salt, "hash": digest}


def check_password(user: dict[str, Any], password: str) -> bool:
    stored = user.get("password") or {}
    got = hash_password(password, stored.get("salt", ""))["hash"]
    return secrets.compare_digest(got, stored.get("hash", ""))


def status(task: dict[str, Any], on: dt.date | None = None) -> str:
    """``done``, ``missed`` (open and past its deadline) or ``pending``."""
    if task.get("completed"):
        return "done"
    try:
        deadline = dt.date.fromisoformat(task.get("deadline", ""))
    except ValueError:
        return "pending"
    return "missed" if deadline < (on or today()) else "pending"


def seed() -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], int]:
    """Two demo users with a few tasks around today's date."""
    d = today()

    def day(offset: int) -> str:
        return (d + dt.timedelta(days=offset)).isoformat()

    users = {
        "peter@example.com": {"name": "Peter", "password": hash_password("seaside")},
        "ada@example.com": {"name": "Ada", "password": hash_password("ada")},
    }
    tasks = {
        "peter@example.com": [
            {"id": 1, "title": "Write the continuation chapter", "deadline": day(5), "completed": False,
             "description": "Call and answer, with examples."},
            {"id": 2, "title": "Review pull requests", "deadline": day(1), "completed": False,
             "description": ""},
            {"id": 3, "title": "Buy milk", "deadline": day(-2), "completed": False, "description": "Oat, 1 l."},
            {"id": 4, "title": "Book flights to ESUG", "deadline": day(-10), "completed": True,
             "description": ""},
        ],
        "ada@example.com": [
            {"id": 5, "title": "Note G", "deadline": day(3), "completed": False,
             "description": "The Bernoulli numbers, step by step."},
            {"id": 6, "title": "Answer Mr Babbage", "deadline": day(-1), "completed": False,
             "description": ""},
        ],
    }
    return users, tasks, 7


class Login(Component):
    """Email and password; answers ``{"email", "password"}`` or :data:`SIGN_UP`."""

    name = "demo.seaside-todo.login"
    template = "demos/seaside_todo_login.html"
    fields = ("email", "password")

    def __init__(self, email: str = "", message: str = "", failed: bool = False) -> None:
        self.email = email
        self.password = ""
        self.message = message
        self.failed = failed

    @event
    def login(self) -> Answer:
        password, self.password = self.password or "", ""  # never kept in state
        return answer({"email": (self.email or "").strip().lower(), "password": password})

    @event
    def sign_up(self) -> Answer:
        self.password = ""
        return answer(SIGN_UP)


class Register(Component):
    """Sign up; validates here and answers ``{"name", "email", "password"}`` or :data:`CANCEL`."""

    name = "demo.seaside-todo.register"
    template = "demos/seaside_todo_register.html"
    fields = ("username", "email", "password", "repeat")

    def __init__(self, taken: list[str] | None = None) -> None:
        self.taken = list(taken or [])
        self.username = ""
        self.email = ""
        self.password = ""
        self.repeat = ""
        self.errors: dict[str, str] = {}

    @event
    def register(self) -> Answer | None:
        password, repeat = self.password or "", self.repeat or ""
        self.password = self.repeat = ""  # never kept in state
        name = (self.username or "").strip()
        email = (self.email or "").strip().lower()
        errors = {}
        if not name:
            errors["username"] = "Please enter a username."
        elif len(name) > 40:
            errors["username"] = "Usernames have at most 40 characters."
        if not _EMAIL.match(email):
            errors["email"] = "Please enter a valid e-mail address."
        elif email in self.taken:
            errors["email"] = "This e-mail address is already registered."
        if len(password) < 4:
            errors["password"] = "Passwords have at least 4 characters."
        elif password != repeat:
            errors["repeat"] = "The passwords do not match."
        self.errors = errors
        if errors:
            return None
        return answer({"name": name, "email": email, "password": password})

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class TaskEditor(Component):
    """A form generated from :data:`TASK_FIELDS`; answers the cleaned values or :data:`CANCEL`."""

    name = "demo.seaside-todo.editor"
    template = "demos/seaside_todo_editor.html"
    fields = tuple(f["name"] for f in TASK_FIELDS)

    def __init__(self, heading: str = "New task", values: dict[str, Any] | None = None) -> None:
        values = values or {}
        self.heading = heading
        self.title = str(values.get("title", ""))
        self.deadline = str(values.get("deadline", today().isoformat()))
        self.completed = "yes" if values.get("completed") else "no"
        self.description = str(values.get("description", ""))
        self.errors: dict[str, str] = {}

    @property
    def descriptions(self) -> list[dict[str, Any]]:
        return TASK_FIELDS

    def value_of(self, name: str) -> str:
        return str(getattr(self, name, "") or "")

    @event
    def save(self) -> Answer | None:
        title = (self.title or "").strip()
        errors = {}
        if not title:
            errors["title"] = "Please enter a task name."
        elif not _TITLE.match(title):
            errors["title"] = "Task name is invalid or too long."
        try:
            deadline = dt.date.fromisoformat((self.deadline or "").strip()).isoformat()
        except ValueError:
            errors["deadline"] = "Please choose a valid deadline."
            deadline = ""
        self.errors = errors
        if errors:
            return None
        return answer({"title": title, "deadline": deadline, "completed": self.completed == "yes",
                       "description": (self.description or "").strip()[:500]})

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class TodoList(Component):
    """One user's list: menu, message bar, sortable report, and the editor modal."""

    name = "demo.seaside-todo.list"
    template = "demos/seaside_todo_list.html"

    def __init__(self, user: str = "", display_name: str = "", tasks: list[dict[str, Any]] | None = None,
                 next_id: int = 1) -> None:
        self.user = user
        self.display_name = display_name
        self.tasks = [dict(t) for t in tasks or []]
        self.next_id = next_id
        self.filter = "pending"
        self.sort = "deadline"
        self.descending = False
        self.message: dict[str, str] | None = None
        self.editing: int | None = None
        self.dialog = False

    @property
    def filters(self) -> list[tuple[str, str]]:
        return FILTERS

    @property
    def visible(self) -> list[dict[str, Any]]:
        on = today()
        rows = [dict(t, status=status(t, on)) for t in self.tasks]
        if self.filter == "completed":
            rows = [r for r in rows if r["status"] == "done"]
        elif self.filter in ("pending", "missed"):
            rows = [r for r in rows if r["status"] == self.filter]
        key = "title" if self.sort == "title" else "deadline"
        return sorted(rows, key=lambda r: (str(r[key]).lower(), r["id"]), reverse=self.descending)

    def _task(self, id: int) -> dict[str, Any] | None:
        return next((t for t in self.tasks if t["id"] == id), None)

    @event
    def show(self, filter: str) -> None:
        if filter in dict(FILTERS):
            self.filter = filter
            self.message = None

    @event
    def sort_by(self, key: str) -> None:
        if key not in ("deadline", "title"):
            return
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, False

    @event
    def toggle(self, id: int) -> None:
        task = self._task(id)
        if task is not None:
            task["completed"] = not task["completed"]
            state = "done" if task["completed"] else "open again"
            self.message = {"kind": "info", "text": f"“{task['title']}” is {state}."}

    @event
    def new_task(self) -> CallInSlot | None:
        if self.dialog:
            return None
        self.dialog, self.editing = True, None
        return call_in_slot("dialog", TaskEditor("New task"), resume="on_edited")

    @event
    def edit(self, id: int) -> CallInSlot | None:
        task = self._task(id)
        if task is None or self.dialog:
            return None
        self.dialog, self.editing = True, id
        return call_in_slot("dialog", TaskEditor("Edit task", task), resume="on_edited")

    def on_edited(self, values: Any) -> None:
        self.dialog = False
        editing, self.editing = self.editing, None
        if values == CANCEL or not isinstance(values, dict):
            return
        if editing is None:
            self.tasks.append({"id": self.next_id, **values})
            self.next_id += 1
            self.message = {"kind": "info", "text": f"Created “{values['title']}”."}
        else:
            task = self._task(editing)
            if task is not None:
                task.update(values)
                self.message = {"kind": "info", "text": f"Saved “{values['title']}”."}

    @event
    def logout(self) -> Answer:
        return answer({"tasks": self.tasks, "next_id": self.next_id})


class TodoApp(Component):
    """The root task: login → (register) → list → login again, holding the database."""

    name = "demo.seaside-todo"
    template_string = '<div {{ root() }}><p class="stube-muted">Loading…</p></div>'

    def __init__(self) -> None:
        self.users, self.tasks, self.next_id = seed()
        self.current: str | None = None

    def start(self) -> Call:
        return self._login()

    def _login(self, email: str = "", message: str = "", failed: bool = False) -> Call:
        self.current = None
        return call(Login(email, message, failed), resume="on_login")

    def _open_list(self, email: str) -> Call:
        self.current = email
        return call(TodoList(email, self.users[email]["name"], self.tasks.get(email, []), self.next_id),
                    resume="on_logged_out")

    def on_login(self, result: Any) -> Call:
        if result == SIGN_UP:
            return call(Register(sorted(self.users)), resume="on_register")
        email = str(result.get("email", "")) if isinstance(result, dict) else ""
        user = self.users.get(email)
        if user is None or not check_password(user, str(result.get("password", ""))):
            return self._login(email, "Login failed.", failed=True)
        return self._open_list(email)

    def on_register(self, result: Any) -> Call:
        if result == CANCEL or not isinstance(result, dict):
            return self._login()
        email = result["email"]
        if email in self.users:  # registered meanwhile: let the login page say so
            return self._login(email, "That e-mail address is already registered; please log in.")
        self.users[email] = {"name": result["name"], "password": hash_password(result["password"])}
        self.tasks[email] = []
        return self._open_list(email)

    def on_logged_out(self, result: Any) -> Call:
        email = self.current
        if email is not None and isinstance(result, dict):
            self.tasks[email] = result.get("tasks", [])
            self.next_id = max(self.next_id, int(result.get("next_id", self.next_id)))
        return self._login(email or "", "You have been logged out.")
