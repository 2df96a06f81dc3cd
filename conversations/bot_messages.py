"""The bot's fixed sentences, in English and Simplified Chinese."""

TEXTS: dict[str, dict[str, str]] = {
    "fallback": {
        "en": "Sorry, I can't answer that right now. I've asked a colleague to help; "
        "someone will reply here shortly.",
        "zh": "抱歉，我暂时无法回答这个问题。我已请同事来帮您，稍后会在这里回复您。",
    },
    "no_llm": {
        "en": "I don't have an answer for that in our help center. I've passed your question "
        "to a colleague, who will reply here shortly.",
        "zh": "帮助中心里暂时没有这个问题的答案。我已把您的问题转给同事，稍后会在这里回复您。",
    },
    "human_requested": {
        "en": "I've asked a colleague to join. Someone will be with you shortly.",
        "zh": "已为您呼叫人工客服，请稍候。",
    },
    "offline": {
        "en": "Our team is offline right now{hours}. Leave your email address here and we'll "
        "reply as soon as we're back.",
        "zh": "我们的客服目前不在线{hours}。请在这里留下您的邮箱，我们上线后会尽快回复您。",
    },
    "blocked": {
        "en": "Sorry, your message couldn't be processed because it contains content we can't "
        "accept. Please rephrase it.",
        "zh": "抱歉，您的消息包含无法处理的内容，请换一种说法。",
    },
    "escalated": {
        "en": "Thanks for telling us. A colleague will take a personal look and reply here.",
        "zh": "感谢您的反馈，我们的同事会亲自处理并在这里回复您。",
    },
}


def language_of(code: str) -> str:
    return "zh" if (code or "").lower().startswith("zh") else "en"


def bot_text(key: str, *, language: str, **values: str) -> str:
    text = TEXTS[key][language_of(language)]
    return text.format(**values) if values else text
