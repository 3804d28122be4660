"""`brisk chat` end to end with piped stdin (no libedit then) on SmolLM2-135M:
replies stream, the KV cache is reused between turns (only the new suffix of
the rendered conversation is evaluated), /reset starts over, a conversation
over the context gives a clear error and the chat goes on, bad options fail."""
import re
import subprocess

from brisk_ffi import BRISK_BIN

STATS = re.compile(r"\[turn (\d+): prompt (\d+) tokens, (\d+) reused, (\d+) evaluated")


def chat(model, stdin, *args, timeout=300):
    return subprocess.run([str(BRISK_BIN), "chat", "-m", str(model), "-t", "2", "--temp", "0", "--stats", *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def test_turns_reuse_the_kv_cache_and_reset_starts_over(default_model):
    r = chat(default_model, "What is the capital of France?\nAnd of Italy?\n/reset\nWhat is the capital of France?\n",
             "-n", "24")
    assert r.returncode == 0, r.stderr
    turns = [tuple(map(int, m)) for m in STATS.findall(r.stderr)]
    assert [t[0] for t in turns] == [1, 2, 3]
    (_, p1, reused1, ev1), (_, p2, reused2, ev2), (_, p3, reused3, ev3) = turns
    assert reused1 == 0 and ev1 == p1
    # turn 2 keeps turn 1's prompt and reply: only the new suffix is evaluated
    assert reused2 > p1 and ev2 == p2 - reused2 and ev2 < p2 / 2
    assert reused3 == 0 and p3 == p1  # after /reset the first prompt again
    assert "(new conversation)" in r.stderr
    replies = r.stdout.split("\n")
    assert "Paris" in replies[0]
    # greedy: the same question in a fresh conversation gives the same reply
    assert replies[0] == replies[2]


def test_system_prompt_and_template_override(default_model, tmp_path):
    tmpl = tmp_path / "t.jinja"
    tmpl.write_text("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                    "<|im_start|>assistant\n")
    r = chat(default_model, "Hi\n", "-s", "You are a pirate.", "--template", str(tmpl), "-n", "8")
    assert r.returncode == 0, r.stderr
    assert STATS.search(r.stderr)


def test_conversation_over_the_context_is_a_clear_error(default_model):
    long_line = "tell me about the moon " * 40
    r = chat(default_model, f"{long_line}\nHi\n", "-c", "96", "-n", "4")
    assert r.returncode == 0, r.stderr
    assert re.search(r"the conversation is \d+ tokens, the context holds 96", r.stderr)
    # the chat goes on with the next line
    assert [int(m[0]) for m in STATS.findall(r.stderr)] == [1]


def test_reply_stops_when_the_context_is_full(default_model):
    r = chat(default_model, "Write a long story about dragons.\n", "-c", "64")
    assert r.returncode == 0, r.stderr
    assert "context (64 tokens) is full" in r.stderr


def test_end_of_input_and_exit(default_model):
    assert chat(default_model, "").returncode == 0
    r = chat(default_model, "/exit\nnever read\n")
    assert r.returncode == 0 and r.stdout == ""


def test_bad_options(default_model):
    for args in (["--temp"], ["--nope"], ["-n", "x"], ["--template", "/no/such/file"]):
        r = chat(default_model, "", *args)
        assert r.returncode != 0
        assert r.stderr.startswith("brisk chat:"), r.stderr
