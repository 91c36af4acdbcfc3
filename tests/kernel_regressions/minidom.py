"""A tiny DOM to apply stube fragments the way htmx would (by id) and compare with a fresh render."""
from __future__ import annotations

from html.parser import HTMLParser

VOID = {"input", "br", "img", "hr", "meta", "link"}


class El:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.children, self.parent = tag, dict(attrs), [], parent

    def html(self):
        a = "".join(f' {k}="{v}"' if v is not None else f" {k}" for k, v in self.attrs.items())
        inner = "".join(c.html() if isinstance(c, El) else c for c in self.children)
        return f"<{self.tag}{a}>{inner}</{self.tag}>"


class _P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.root = El("#root", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        el = El(tag, attrs, self.cur)
        self.cur.children.append(el)
        if tag not in VOID:
            self.cur = el

    def handle_endtag(self, tag):
        x = self.cur
        while x is not self.root and x.tag != tag:
            x = x.parent
        if x is not self.root:
            self.cur = x.parent

    def handle_data(self, data):
        if data.strip():
            self.cur.children.append(data.strip())

    def handle_entityref(self, name):
        self.cur.children.append(f"&{name};")

    def handle_charref(self, name):
        self.cur.children.append(f"&#{name};")

    def handle_comment(self, data):
        pass


def parse(html: str) -> list:
    p = _P()
    p.feed(html)
    p.close()
    for c in p.root.children:
        if isinstance(c, El):
            c.parent = None
    return p.root.children


class Dom:
    def __init__(self, cid: str, html: str):
        self.top = El("div", {"id": cid})
        self._set_children(self.top, parse(html))

    def _set_children(self, el, kids):
        el.children = kids
        for k in kids:
            if isinstance(k, El):
                k.parent = el

    def find(self, id_):
        found = []

        def walk(e):
            if e.attrs.get("id") == id_:
                found.append(e)
            for c in e.children:
                if isinstance(c, El):
                    walk(c)
        walk(self.top)
        return found

    def ids(self):
        out = []

        def walk(e):
            if "id" in e.attrs:
                out.append(e.attrs["id"])
            for c in e.children:
                if isinstance(c, El):
                    walk(c)
        walk(self.top)
        return out

    def apply(self, frags, cid):
        from stube import fragments as fr
        for f in frags:
            if f.kind in (fr.SCRIPT, fr.HISTORY):
                continue
            if f.kind == fr.CLOSE:
                self.top.children = ["ENDED"]
                continue
            targets = self.find(f.target)
            if len(targets) != 1:
                raise AssertionError(f"{f.kind} {f.mode} target #{f.target} matches {len(targets)} elements")
            t = targets[0]
            if f.kind == fr.PAGE:
                self._set_children(t, parse(f.html))
            elif f.kind in (fr.MORPH, fr.ERROR, fr.PATCH):
                new = parse(f.html)
                p = t.parent
                i = p.children.index(t)
                p.children[i:i + 1] = new
                for n in new:
                    if isinstance(n, El):
                        n.parent = p
            elif f.kind == fr.REMOVE:
                t.parent.children.remove(t)
            elif f.kind == fr.INSERT:
                new = parse(f.html)
                if f.mode == "append":
                    t.children.extend(new)
                    p = t
                elif f.mode == "prepend":
                    t.children[0:0] = new
                    p = t
                else:
                    p = t.parent
                    i = p.children.index(t)
                    p.children[i + 1:i + 1] = new
                for n in new:
                    if isinstance(n, El):
                        n.parent = p

    def html(self):
        return self.top.html()
