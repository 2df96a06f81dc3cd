"""The routing decision for visitor texts, as `kb_ask` and the playground show it (no LLM)."""

from helpdesk.models import Site
from kb.filtering import Screener
from kb.matching import MatchResult, kb_match_many


def decision_dict(*, query: str, result: MatchResult | None) -> dict:
    if result is None:
        return {
            "query": query,
            "decision": "blocked",
            "entry": None,
            "score": 0.0,
            "candidates": [],
        }
    best = result.best
    return {
        "query": query,
        "decision": result.decision,
        "entry": best.question if best is not None and result.decision != "none" else None,
        "score": round(float(result.score), 2),
        "candidates": [
            {"entry": c.question, "score": c.strict if result.decision == "answer" else c.loose}
            for c in result.candidates
        ],
    }


def ask_many(*, site: Site, texts: list[str]) -> list[dict]:
    """What the pipeline would do with each text: the filter first (block or escalate: the
    bot stays out of it, shown as "blocked"), then the knowledge base."""
    screener = Screener.for_site(site_id=site.pk)
    allowed: list[int] = []
    for position, text in enumerate(texts):
        if screener.screen(text).action not in ("block", "escalate"):
            allowed.append(position)
    results = dict(
        zip(allowed, kb_match_many(site=site, texts=[texts[p] for p in allowed]), strict=True)
    )
    return [decision_dict(query=t, result=results.get(p)) for p, t in enumerate(texts)]
