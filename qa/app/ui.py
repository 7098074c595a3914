"""The chat page (`qa chat`): a Gradio app over the same pipeline `ask()` uses.

The only module that imports gradio. `ChatPage` holds the handlers as plain methods that
tests call without a browser; `build_app` wires them to components and `serve` starts the
server on 127.0.0.1 with no share link, no analytics and a bounded queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from qa.config import offline_environment

offline_environment()  # gradio and huggingface_hub read these switches when they are imported

import gradio as gr  # noqa: E402
from gradio.events import api as gr_api  # noqa: E402

from qa.answer.retrieval import Mode  # noqa: E402
from qa.app.admission import BUSY, Admission  # noqa: E402
from qa.app.feedback import record_feedback  # noqa: E402
from qa.app.render import (  # noqa: E402
    escape,
    render_answer,
    render_error,
    render_partial,
    render_question,
)
from qa.app.uploads import UploadReport, add_uploads  # noqa: E402
from qa.corpus.articles import FILE_SUFFIXES  # noqa: E402
from qa.corpus.embed import IngestProgress  # noqa: E402
from qa.errors import QAError, QuestionError  # noqa: E402
from qa.models import Answer  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402

EXAMPLES = [
    "How many enterprises are in the Pinghu CNC machine tool cluster?",
    "When was Haichen Precision Machinery established?",
    "What is the Integration of Two Industries?",
    "中新嘉善现代产业园规划面积是多少？",
]
BUSY_LANES = 8  # handler slots past the gate's own, where an over-full chat is told it is busy
TABLE_HEADERS = ["Title", "Date", "Chunks", "File"]
# all four columns fit at 1440 px; long titles wrap
TABLE_WIDTHS: list[str | int] = ["52%", "14%", "9%", "25%"]
CSS = """
.qa-ref { font-weight: 600; color: var(--color-accent); }
a.qa-ref { text-decoration: none; }
a.qa-ref:hover, a.qa-ref:focus { text-decoration: underline; }
.qa-citations li.qa-target { outline: 2px solid var(--color-accent); outline-offset: 2px; }
.qa-unverified { color: #c05621; }
.qa-refusal { border-left: 4px solid #b7791f; background: #fffaf0; padding: .4em .8em; }
.qa-refusal-head { font-weight: 600; color: #975a16; }
.qa-error { border-left: 4px solid #c53030; background: #fff5f5; padding: .4em .8em; }
.qa-notice { border-left: 4px solid #2b6cb0; background: #ebf8ff; padding: .3em .8em; }
.qa-query { font-size: .9em; opacity: .75; }
.qa-passage { font-size: .9em; margin: .3em 0 .6em; }
.qa-passage mark { background: #fefcbf; padding: 0 .1em; }
.qa-why { font-size: .85em; opacity: .85; }
.qa-trace li { margin: .2em 0; }
"""
# Two things the chat component does not do itself: a [n] marker opens its answer's Sources
# and shows the entry (Gradio opens every link in a new tab), and a message's screen-reader
# label is its text (Gradio labels it with the message's HTML source).
PAGE_JS = r"""() => {
  const LABEL = /^(.*?'s message: )/s;
  const relabel = () => {
    for (const el of document.querySelectorAll("[aria-label*=\"'s message: \"]")) {
      const m = el.getAttribute("aria-label").match(LABEL);
      const text = m && m[1] + el.innerText.replace(/\s+/g, " ").trim();
      if (text && el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    }
  };
  let queued = false;  // once a frame at most, however many mutations a stream makes
  const schedule = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(() => { queued = false; relabel(); });
    }
  };
  new MutationObserver(schedule).observe(document.body, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["aria-label"],
  });
  relabel();
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-ref");
    const href = link && link.getAttribute("href");
    if (!href || !href.startsWith("#")) return;
    const entry = document.getElementById(href.slice(1));
    if (!entry) return;
    event.preventDefault();
    event.stopPropagation();
    const details = entry.closest("details");
    if (details) details.open = true;
    for (const old of document.querySelectorAll(".qa-target")) old.classList.remove("qa-target");
    entry.classList.add("qa-target");
    entry.scrollIntoView({ block: "nearest" });
  }, true);
}"""


@dataclass(frozen=True)
class Turn:
    """One question of a chat and what came back: an Answer, or an error message."""

    question: str
    answer: Answer | None = None
    error: str | None = None


@dataclass(frozen=True)
class Listing:
    """The index as the page shows it (see `ChatPage.listing`)."""

    held: str  # "The index holds **N** articles."
    rows: list[list[str | int]]  # the Articles table
    names: list[str]  # article files, the choices of the article filter


def parse_day(text: str | None, label: str) -> dt.date | None:
    """A YYYY-MM-DD date typed in the settings, or None when left empty."""
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise QuestionError(f"{label} must be a date like 2023-01-31 (or left empty)") from None


class ChatPage:
    """The handlers of the chat page, over one pipeline."""

    def __init__(self, pipeline: QAPipeline) -> None:
        self.pipeline = pipeline
        self.gate = Admission.of(pipeline.settings)

    # --- chat -----------------------------------------------------------------------------
    def titles(self) -> dict[str, str]:
        """Article file name → title, for the refusal's closest articles."""
        return {a.source: a.title for a in self.pipeline.articles()}

    def messages(self, turns: list[Turn], partial: str | None = None) -> list[dict[str, str]]:
        """The chat as Gradio messages; `partial` is the answer still being streamed."""
        titles = self.titles() if any(t.answer and t.answer.refused for t in turns) else {}
        out: list[dict[str, str]] = []
        for index, turn in enumerate(turns):
            out.append({"role": "user", "content": render_question(turn.question)})
            if turn.answer is not None:
                content = render_answer(turn.answer, titles, key=f"t{index}")
            elif turn.error is not None:
                content = render_error(turn.error)
            else:
                content = render_partial(partial or "…")  # only the last turn can be pending
            out.append({"role": "assistant", "content": content})
        return out

    def respond(
        self,
        question: str,
        turns: list[Turn] | None,
        mode: str = "hybrid",
        k: float = 5,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[tuple[Any, list[dict[str, str]], list[Turn]]]:
        """Stream the answer to `question`: (question box, chat messages, turns) after each
        piece; the box is disabled while the answer streams and enabled when it is done."""
        done = list(turns or [])
        history = [(t.question, t.answer.text) for t in done if t.answer is not None]
        pending = [*done, Turn(question)]
        yield gr.Textbox(value="", interactive=False), self.messages(pending), done
        with self.gate.enter() as admitted:
            if admitted:
                yield from self._answer(
                    question, done, pending, history, mode, k, sources, since, until
                )
                return
        done = [*done, Turn(question, error=BUSY)]
        yield gr.Textbox(interactive=True), self.messages(done), done

    def _answer(
        self,
        question: str,
        done: list[Turn],
        pending: list[Turn],
        history: list[tuple[str, str]],
        mode: str,
        k: float,
        sources: list[str] | None,
        since: str | None,
        until: str | None,
    ) -> Iterator[tuple[Any, list[dict[str, str]], list[Turn]]]:
        text = ""
        try:
            stream = self.pipeline.ask_stream(
                question,
                history=history,
                k=int(k),
                sources=sources or None,
                since=parse_day(since, "Since"),
                until=parse_day(until, "Until"),
                mode=cast(Mode, mode) if mode in ("hybrid", "dense", "bm25") else None,
            )
            for piece in stream:
                if isinstance(piece, Answer):
                    done = [*done, Turn(question, answer=piece)]
                    break
                text += piece
                yield gr.Textbox(interactive=False), self.messages(pending, text), done
        except QAError as exc:  # the edge: a problem becomes a message in the chat
            done = [*done, Turn(question, error=str(exc))]
        yield gr.Textbox(interactive=True), self.messages(done), done

    def rate(self, turns: list[Turn] | None, message_index: int, liked: bool) -> str:
        """Store a thumbs up/down for the answer at `message_index` of the chat."""
        turns = turns or []
        turn_index = message_index // 2  # each turn is a question and an answer message
        if not 0 <= turn_index < len(turns) or turns[turn_index].answer is None:
            return "There is no answer to rate there."
        answer = turns[turn_index].answer
        assert answer is not None
        path = self.pipeline.settings.feedback_file
        record_feedback(path, answer, "up" if liked else "down")
        return f"Thanks, your rating was saved to {path.name}."

    def api_ask(self, question: str, k: int = 5) -> dict[str, Any]:
        """Answer one question; the whole Answer as JSON (for `gradio_client`). It passes the
        same gate as the chat: a Gradio error saying it is busy when the chat is full."""
        with self.gate.enter() as admitted:
            if not admitted:
                raise gr.Error(BUSY)
            try:
                return self.pipeline.ask(question, k=k).model_dump(mode="json")
            except QAError as exc:
                raise gr.Error(str(exc)) from None

    # --- articles -------------------------------------------------------------------------
    def listing(self) -> Listing:
        """What the page shows of the index, from one read of its manifest: the count, the
        Articles table (title, date, chunk count and file of every indexed article) and the
        files the article filter offers."""
        articles = self.pipeline.articles()
        count = len(articles)
        return Listing(
            held=f"The index holds **{count}** article{'s' if count != 1 else ''}.",
            rows=[
                [a.title, a.date.isoformat() if a.date else "", a.chunks, a.source]
                for a in articles
            ],
            names=[a.source for a in articles],
        )

    def article_text(self, source: str) -> str:
        """The cleaned text of one article, or what went wrong."""
        try:
            return self.pipeline.article_text(source)
        except QAError as exc:
            return f"⚠ {exc}"

    def upload(self, files: list[str] | None, progress: Any = None) -> str:
        """Add uploaded article files to the index; a Markdown summary of what happened."""
        if not files:
            return "Choose one or more .txt, .md, .html, .pdf or .docx files first."

        try:
            report = add_uploads(self.pipeline, [Path(f) for f in files], _shown(progress))
        except QAError as exc:
            return f"⚠ {escape(str(exc))}"
        return upload_summary(report)

    def add_pages(self, addresses: str | None, progress: Any = None) -> str:
        """Fetch the web pages at `addresses` (one a line) and add them to the index; a
        Markdown summary. Only http(s) is fetched, and loopback, private and link-local
        addresses only when QA_WEB_ALLOW_PRIVATE allows (redirects are checked the same)."""
        from qa.corpus.web import is_address

        urls = [line.strip() for line in (addresses or "").splitlines() if line.strip()]
        if not urls:
            return "Type one or more web addresses (https://...), one a line, first."
        # a bare "example.com/news" is a web address too, added (and reported) as https://
        urls = [u if is_address(u) else f"https://{u}" for u in urls]

        settings = self.pipeline.settings
        try:
            ingest = self.pipeline.ingest_pages(
                urls,
                allow_private=settings.web_allow_private,
                progress=_shown(progress),
            )
        except QAError as exc:
            return f"⚠ {escape(str(exc))}"
        failed = {name for name, _ in ingest.skipped}
        fetched = [u for u in urls if u not in failed]
        return upload_summary(UploadReport(saved=fetched, ingest=ingest))


def _shown(progress: Any) -> Callable[[IngestProgress], None]:
    """An ingest's embedding steps shown on Gradio's progress bar (`progress`, if any)."""

    def embedding(step: IngestProgress) -> None:
        if progress is not None:
            progress((step.chunks, step.chunks_total), desc="Embedding new chunks")

    return embedding


def upload_summary(report: UploadReport) -> str:
    """What an upload did, as escaped Markdown lines."""

    def names(items: list[str]) -> str:
        return ", ".join(escape(n) for n in items) or "none"

    lines = []
    ingest = report.ingest
    if ingest is not None:
        new = set(report.saved)
        lines.append(f"**Added:** {names([n for n in ingest.added if n in new])}")
        lines.append(f"**Updated:** {names([n for n in ingest.updated if n in new])}")
        lines.append(f"**Unchanged:** {names([n for n in ingest.unchanged if n in new])}")
        report.rejected += list(ingest.skipped) + [
            (name, f"same text as {twin}, not indexed twice") for name, twin in ingest.duplicates
        ]
    lines += [f"**Skipped** {escape(name)}: {escape(why)}" for name, why in report.rejected]
    return "<br>".join(lines)


def build_app(page: ChatPage) -> gr.Blocks:
    """The Blocks app: a Chat tab and an Articles tab wired to `page`'s handlers."""
    app = gr.Blocks(title="Delta QA", analytics_enabled=False)
    first = page.listing()
    with app:
        gr.Markdown("# Delta QA\nCited answers from Zhejiang and Yangtze River Delta news.")
        turns = gr.State([])
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(
                label="Chat",
                height=520,
                latex_delimiters=[],  # "$" in article text is money, not maths
                buttons=["copy"],
                elem_id="chat",
            )
            question = gr.Textbox(
                label="Question",
                placeholder="Ask about the articles, e.g. which clusters were selected in 2023?",
                elem_id="question",
                max_lines=4,
            )
            with gr.Row():
                ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                clear = gr.Button("Clear chat", elem_id="clear")
            status = gr.Markdown(elem_id="status")
            gr.Examples(EXAMPLES, inputs=question, label="Example questions")
            with gr.Accordion("Search settings", open=False):
                mode = gr.Radio(
                    ["hybrid", "dense", "bm25"],
                    value=page.pipeline.settings.retriever,
                    label="Retriever",
                )
                k = gr.Slider(1, 20, value=page.pipeline.settings.top_k, step=1, label="Passages")
                sources = gr.Dropdown(
                    choices=first.names,
                    multiselect=True,
                    label="Only these articles (empty: all)",
                )
                with gr.Row():
                    since = gr.Textbox(label="Since (YYYY-MM-DD)", max_lines=1)
                    until = gr.Textbox(label="Until (YYYY-MM-DD)", max_lines=1)
        with gr.Tab("Articles", elem_id="articles-tab") as articles_tab:
            with gr.Row():
                held = gr.Markdown(first.held, elem_id="held")
                refresh = gr.Button("Refresh", size="sm", scale=0, elem_id="refresh")
            table = gr.Dataframe(
                value=first.rows,
                headers=TABLE_HEADERS,
                column_widths=TABLE_WIDTHS,
                wrap=True,
                interactive=False,
                elem_id="articles",
            )
            text = gr.Textbox(label="Article text", lines=14, interactive=False, elem_id="text")
            files = gr.File(
                label="Add articles (.txt, .md, .html, .pdf, .docx)",
                file_count="multiple",
                file_types=list(FILE_SUFFIXES),
                elem_id="upload",
            )
            add = gr.Button("Add to the index", elem_id="add")
            addresses = gr.Textbox(
                label="Add web pages (addresses, one a line)",
                placeholder="https://example.com/news/industrial-park.html",
                lines=2,
                elem_id="addresses",
            )
            fetch = gr.Button("Fetch and add to the index", elem_id="fetch")
            summary = gr.Markdown(elem_id="summary")

        chat_inputs = [question, turns, mode, k, sources, since, until]
        chat_outputs = [question, chatbot, turns]
        # one event for both triggers; callable as "/chat" (`python -m qa.app.load` drives it)
        # but kept out of the API page, whose documented endpoint is "/ask"
        gr.on(
            [question.submit, ask_button.click],
            page.respond,
            chat_inputs,
            chat_outputs,
            api_name="chat",
            api_visibility="undocumented",
        )
        clear.click(lambda: ([], [], ""), None, [chatbot, turns, status], api_visibility="private")
        chatbot.clear(lambda: ([], ""), None, [turns, status], api_visibility="private")

        def like(state: list[Turn], data: gr.LikeData) -> str:
            index = data.index if isinstance(data.index, int) else data.index[0]
            return page.rate(state, index, data.liked is True or data.liked == "Like")

        chatbot.like(like, turns, status, api_visibility="private")

        def select(data: gr.SelectData) -> str:
            row = data.row_value or []
            return page.article_text(str(row[-1])) if row else ""

        table.select(select, None, text, api_visibility="private")

        def listed(chosen: list[str] | None) -> tuple[str, Any, gr.Dropdown]:
            """The article count, the table and the filter as the index holds them now
            (another process may have ingested since the page was built)."""
            page.pipeline.refresh()
            now = page.listing()
            # new choices with the filter kept as the user set it: without an explicit value
            # the dropdown may fall back to its first choice and silently filter the chat
            kept = [name for name in chosen or [] if name in now.names]
            return now.held, now.rows, gr.Dropdown(choices=now.names, value=kept)

        for event in (articles_tab.select, refresh.click):
            event(listed, sources, [held, table, sources], api_visibility="private")

        def added(message: str, chosen: list[str] | None) -> tuple[Any, ...]:
            """The summary, the article count, table and filter after an addition."""
            return message, *listed(chosen)

        def upload(
            paths: list[str] | None,
            chosen: list[str] | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> Any:
            return *added(page.upload(paths, progress), chosen), None

        add.click(
            upload,
            [files, sources],
            [summary, held, table, sources, files],
            concurrency_limit=1,  # one index writer: uploads and fetched pages take turns
            concurrency_id="add",
            api_visibility="private",
        )

        def pages(
            text: str | None,
            chosen: list[str] | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> Any:
            return *added(page.add_pages(text, progress), chosen), ""

        fetch.click(
            pages,
            [addresses, sources],
            [summary, held, table, sources, addresses],
            concurrency_limit=1,
            concurrency_id="add",
            api_visibility="private",
        )
        gr_api(page.api_ask, api_name="ask")
    return app


def serve(pipeline: QAPipeline, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat page until interrupted: local only, no share link, bounded queue."""
    settings = pipeline.settings
    pipeline.ensure_index()
    app = build_app(ChatPage(pipeline))
    # Gradio lets more questions into the handler than the gate admits, so that `ChatPage.gate`
    # answers chat_concurrency of them at once, keeps chat_queue_size waiting, and tells the
    # rest in the chat that it is busy (in BUSY_LANES spare slots, at once) instead of leaving
    # them unseen in Gradio's own queue; its max_size stays unset, since a full Gradio queue is
    # an error toast, not words in the chat
    lanes = settings.chat_concurrency + settings.chat_queue_size + BUSY_LANES
    app.queue(default_concurrency_limit=lanes, max_size=None)
    private = [settings.index_dir, settings.uploads_dir, settings.feedback_file, Path(".env")]
    # Gradio's own start-up lines (among them a hint to make a public share link) stay quiet
    print(f"Delta QA chat page on http://{host}:{port} (Ctrl-C stops it)", flush=True)
    app.launch(
        quiet=True,
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        max_file_size=settings.max_upload_bytes,
        # a waiting question holds a worker thread: one for every lane, and some for the rest
        max_threads=lanes + BUSY_LANES,
        blocked_paths=[str(p.resolve()) for p in private],
        footer_links=["api"],
        run_history=False,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        # system fonts: the page loads nothing from outside hosts
        theme=gr.themes.Default(
            font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
        ),
        css=CSS,
        js=PAGE_JS,
    )
