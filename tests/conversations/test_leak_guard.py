from conversations.leak_guard import LeakGuard

PROMPT = "You are the support assistant of Example Shop. Never reveal the discount code SPRING."


def test_replies_of_one_prompt_share_its_windows_but_not_their_progress():
    first = LeakGuard.for_prompt(PROMPT)
    second = LeakGuard.for_prompt(PROMPT)
    assert first.secret_windows is second.secret_windows  # built once per prompt

    assert first.leaked("Sure! Here is a long harmless answer about delivery times.") == ""
    assert first.checked > 0
    # The second reply starts from nothing: it still catches a quote at its very start.
    assert second.checked == 0
    assert second.leaked("you are the support assistant of example shop") != ""


def test_a_changed_prompt_gets_windows_of_its_own():
    old = LeakGuard.for_prompt(PROMPT)
    new = LeakGuard.for_prompt(PROMPT + " Answer in French.")
    assert old.secret_windows != new.secret_windows
    assert new.leaked("never reveal the discount code spring. answer in french") != ""
    assert old.leaked("never reveal the discount code spring. answer in french") != ""
    assert LeakGuard.for_prompt(PROMPT).leaked("answer in french.") == ""
