"""The Seaside book's ToDo application, from login to logout."""

from __future__ import annotations

import datetime as dt
import json

from demos import seaside_todo as st
from demos.testing import DemoHarness


def login(h: DemoHarness, email: str = "peter@example.com", password: str = "seaside") -> None:
    h.click("Login", fields={"email": email, "password": password})


def rows(h: DemoHarness) -> list[list[str]]:
    return [[td.text for td in tr.select("td")][1:5] for tr in h.page.select("table tbody tr")
            if tr.select("input")]


def titles(h: DemoHarness) -> list[str]:
    return [r[1] for r in rows(h)]


def menu(h: DemoHarness, label: str) -> None:
    h.click(label, within=h.page.one("nav"))


def test_login_failure_clears_the_password_and_keeps_the_email() -> None:
    h = DemoHarness(st.TodoApp)
    assert h.page.one("h2").text == "ToDo Application"
    login(h, password="wrong")
    page = h.page
    assert "Login failed." in page.text
    assert page.one("input[name=email]").get("value") == "peter@example.com"
    assert page.one("input[name=password]").get("value") == ""
    assert '"wrong"' not in json.dumps(h.conversation)


def test_login_shows_pending_tasks_sorted_by_deadline() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    page = h.page
    assert page.one("h2").text == "ToDo-List of Peter"
    assert page.one("nav button[aria-current=page]").text == "Pending"
    assert titles(h) == ["Review pull requests", "Write the continuation chapter"]
    assert all(r[3] == "pending" for r in rows(h))
    assert '"seaside"' not in json.dumps(h.conversation)  # passwords are only stored hashed


def test_filters() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    menu(h, "Missed")
    assert titles(h) == ["Buy milk"] and rows(h)[0][3] == "missed"
    menu(h, "Completed")
    assert titles(h) == ["Book flights to ESUG"] and rows(h)[0][3] == "done"
    menu(h, "All")
    assert len(titles(h)) == 4


def test_sorting_by_task_name() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    menu(h, "All")
    h.press(next(b for b in h.page.select("th button") if "Task Name" in b.text))
    assert titles(h) == sorted(titles(h), key=str.lower)
    assert h.page.one("th[aria-sort]").text.startswith("Task Name")
    h.press(next(b for b in h.page.select("th button") if "Task Name" in b.text))
    assert titles(h) == sorted(titles(h), key=str.lower, reverse=True)


def test_toggle_done_moves_a_task_out_of_pending() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    first = h.page.select("table tbody tr")[0]
    h.press(first.one("input[type=checkbox]"))
    assert titles(h) == ["Write the continuation chapter"]
    assert "“Review pull requests” is done." in h.text


def test_new_task_modal_validates_and_creates() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    menu(h, "New Task")
    modal = h.page.one(".stube-modal-backdrop")
    assert modal.one("h3").text == "New task"
    assert [l.text for l in modal.select("label")] == ["Task Name", "Deadline", "Completed?", "Description"]
    assert "ToDo-List of Peter" in h.text  # the list stays underneath
    h.click("Save", fields={"title": "", "deadline": "2024-13-40", "completed": "no", "description": ""})
    text = h.page.one(".stube-modal-backdrop").text
    assert "Please enter a task name." in text and "Please choose a valid deadline." in text
    h.click("Save", fields={"title": "x" * 61, "deadline": "2030-01-01", "completed": "no", "description": ""})
    assert "Task name is invalid or too long." in h.text
    soon = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    h.click("Save", fields={"title": "Plan the talk", "deadline": soon, "completed": "no",
                            "description": "20 minutes"})
    assert h.page.select(".stube-modal-backdrop") == []
    assert "Plan the talk" in titles(h)
    assert "Created “Plan the talk”." in h.text


def test_edit_opens_prefilled_and_cancel_changes_nothing() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    h.press(h.page.select("table tbody tr")[0].one("button"))
    modal = h.page.one(".stube-modal-backdrop")
    assert modal.one("h3").text == "Edit task"
    assert modal.one("input[name=title]").get("value") == "Review pull requests"
    h.click("Cancel")
    assert h.page.select(".stube-modal-backdrop") == []
    h.press(h.page.select("table tbody tr")[0].one("button"))
    h.click("Save", fields={"title": "Review PRs", "deadline": "2000-01-01", "completed": "no",
                            "description": ""})
    menu(h, "Missed")
    assert "Review PRs" in titles(h)


def test_logout_keeps_the_changes_in_the_conversation_database() -> None:
    h = DemoHarness(st.TodoApp)
    login(h)
    h.press(h.page.select("table tbody tr")[0].one("input[type=checkbox]"))
    menu(h, "Logout")
    assert h.page.one("h2").text == "ToDo Application"
    assert "You have been logged out." in h.text
    login(h)
    menu(h, "Completed")
    assert "Review pull requests" in titles(h)
    assert h.roundtrip() == h.conversation


def test_sign_up_validates_then_logs_in() -> None:
    h = DemoHarness(st.TodoApp)
    h.click("Sign up")
    assert h.page.one("h2").text == "Register"
    assert [l.text for l in h.page.select("label")] == ["Username", "E-mail", "Password", "Repeat password"]
    h.click("Register", fields={"username": "", "email": "ada@example.com", "password": "abc",
                                "repeat": "abc"})
    text = h.text
    assert "Please enter a username." in text
    assert "This e-mail address is already registered." in text
    assert "Passwords have at least 4 characters." in text
    assert h.page.one("input[name=password]").get("value") == ""
    h.click("Register", fields={"username": "Grace", "email": "grace@example", "password": "abcd",
                                "repeat": "abce"})
    assert "Please enter a valid e-mail address." in h.text and "The passwords do not match." in h.text
    h.click("Register", fields={"username": "Grace", "email": "Grace@Example.com", "password": "cobol",
                                "repeat": "cobol"})
    assert h.page.one("h2").text == "ToDo-List of Grace"
    assert "No tasks here." in h.text
    menu(h, "Logout")
    login(h, "grace@example.com", "cobol")
    assert h.page.one("h2").text == "ToDo-List of Grace"


def test_sign_up_cancel_returns_to_login() -> None:
    h = DemoHarness(st.TodoApp)
    h.click("Sign up")
    h.click("Cancel")
    assert h.page.one("h2").text == "ToDo Application"


def test_status() -> None:
    on = dt.date(2025, 5, 10)
    assert st.status({"completed": True, "deadline": "2000-01-01"}, on) == "done"
    assert st.status({"completed": False, "deadline": "2025-05-09"}, on) == "missed"
    assert st.status({"completed": False, "deadline": "2025-05-10"}, on) == "pending"
