"""Tools for agents (`qa mcp`): a Model Context Protocol server on stdin and stdout with two
tools over the same pipeline as `ask()`: `ask`, the cited answer (text, citations, refused),
and `search_articles`, the passages that match a query with their sources.

A question the pipeline cannot take (empty, no words, no index yet) is an error result whose
text says what to do, never a crash of the server.
"""

from __future__ import annotations

from typing import Any, TypedDict

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from qa.errors import QAError
from qa.pipeline import QAPipeline

INSTRUCTIONS = (
    "Answers questions about news articles on industrial development in Zhejiang and the "
    "Yangtze River Delta (development zones, industrial clusters, cross-provincial "
    "integration), in English or Chinese. `ask` gives a short answer whose every claim carries "
    "a [n] citation of a verbatim sentence, or declines (refused) when the articles do not say; "
    "`search_articles` gives the passages themselves, to read and quote."
)


class AskResult(TypedDict):
    """A cited answer: `text` with [n] markers, `citations[n-1]` behind each marker."""

    text: str
    refused: bool
    citations: list[dict[str, Any]]
    notice: str | None


class SearchResult(TypedDict):
    """Passages best first, each with its article's file name, title and date."""

    passages: list[dict[str, Any]]


def build_server(pipeline: QAPipeline) -> MCPServer:
    """The MCP server with the tools `ask` and `search_articles` over `pipeline`."""
    server: MCPServer = MCPServer("delta-qa", instructions=INSTRUCTIONS)

    def ask(question: str) -> AskResult:
        """Answer a question from the indexed news articles. Every claim of `text` ends with a
        [n] marker; citations[n-1] gives the article (source file, title, date), the verbatim
        quote and whether it was verified. refused=true: the articles do not say."""
        try:
            answer = pipeline.ask(question)
        except QAError as exc:
            raise ToolError(str(exc)) from None
        return AskResult(
            text=answer.text,
            refused=answer.refused,
            citations=[c.model_dump(mode="json") for c in answer.citations],
            notice=answer.notice,
        )

    def search_articles(query: str, k: int = 5) -> SearchResult:
        """Find the passages of the indexed news articles that best match `query` (words or a
        question, English or Chinese), best first: text, source file, title, date and score."""
        try:
            passages = pipeline.search(query, k=max(1, min(k, 50)))
            articles = {a.source: a for a in pipeline.articles()}
        except QAError as exc:
            raise ToolError(str(exc)) from None
        found = []
        for passage in passages:
            article = articles.get(passage.source)
            found.append(
                {
                    **passage.model_dump(mode="json"),
                    "title": article.title if article else passage.source,
                    "date": article.date.isoformat() if article and article.date else None,
                }
            )
        return SearchResult(passages=found)

    server.add_tool(ask)
    server.add_tool(search_articles)
    return server


def serve(pipeline: QAPipeline) -> None:
    """Serve the tools on stdin and stdout until the client closes them."""
    build_server(pipeline).run("stdio")
