"""brisk serve, through the official openai and anthropic SDKs (and raw HTTP
for the bad-input cases): plain and streaming chat, completions, messages,
stop sequences, max tokens, multi-turn with prefix caching, embeddings,
logprobs, concurrent clients equal to serial runs, a client that disconnects
mid-stream (its KV blocks come back), a generation swapped out of a full KV
cache that resumes where it was, every bad-input error in each API's own
format, the API key, and a graceful shutdown. Model: smollm2-135m."""
import concurrent.futures
import json
import re
import signal
import socket
import subprocess
import time

import anthropic
import numpy as np
import openai
import pytest

from brisk_ffi import BRISK_BIN
from brisk_server import Server

TIMEOUT = 120
CTX = 512
GREEDY = {"temperature": 0}  # the anthropic SDK (2.x) has no sampling arguments; the API still takes them


@pytest.fixture(scope="module")
def srv(default_model):
    s = Server(default_model, "--parallel", 4, "-c", CTX, "--max-body", 65536, "-t", 2)
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def oai(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def ant(srv):
    return anthropic.Anthropic(base_url=srv.url, api_key="unused", max_retries=0, timeout=TIMEOUT)


def chat(oai, srv, content, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 24)
    msgs = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return oai.chat.completions.create(model=srv.model_id, messages=msgs, **kw)


# ---- plain and streaming ------------------------------------------------------

def test_health_models_metrics(srv, oai):
    assert srv.request("GET", "/health") == (200, {"status": "ok"})
    assert [m.id for m in oai.models.list()] == [srv.model_id]
    m = srv.metrics()
    for name in ["brisk_queue_depth", "brisk_generated_tokens_total", "brisk_prompt_tokens_total",
                 "brisk_generation_tokens_per_second", "brisk_kv_cache_used_blocks", "brisk_kv_cache_usage_ratio",
                 'brisk_requests_total{endpoint="chat_completions"}']:
        assert name in m


def test_chat_plain(srv, oai):
    before = srv.metrics()
    r = chat(oai, srv, "What is the capital of France?")
    assert r.object == "chat.completion" and r.model == srv.model_id
    c = r.choices[0]
    assert c.message.role == "assistant" and "Paris" in c.message.content
    assert c.finish_reason == "stop"
    assert r.usage.completion_tokens <= 24 and r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    after = srv.metrics()
    assert after["brisk_generated_tokens_total"] - before["brisk_generated_tokens_total"] == r.usage.completion_tokens
    assert after["brisk_prompt_tokens_total"] - before["brisk_prompt_tokens_total"] == r.usage.prompt_tokens


def test_chat_streaming_equals_plain(srv, oai):
    q = "Write one sentence about the sea."
    plain = chat(oai, srv, q, max_tokens=30)
    chunks = list(chat(oai, srv, q, max_tokens=30, stream=True, stream_options={"include_usage": True}))
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == plain.choices[0].message.content
    finals = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals == [plain.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_completions_plain_and_streaming(srv, oai):
    kw = dict(model=srv.model_id, prompt="The three primary colors are", max_tokens=12, temperature=0)
    r = oai.completions.create(**kw)
    assert r.object == "text_completion" and r.choices[0].text
    assert r.usage.completion_tokens == 12 and r.choices[0].finish_reason == "length"
    streamed = "".join(ch.choices[0].text for ch in oai.completions.create(stream=True, **kw) if ch.choices)
    assert streamed == r.choices[0].text


def test_max_tokens(srv, oai, ant):
    for n in (1, 5):
        r = chat(oai, srv, "Count from one to one hundred in words.", max_tokens=n)
        assert r.usage.completion_tokens == n and r.choices[0].finish_reason == "length"
    m = ant.messages.create(model=srv.model_id, max_tokens=4, extra_body=GREEDY, messages=[
        {"role": "user", "content": "Count from one to one hundred in words."}])
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 4


def test_stop_sequences(srv, oai, ant):
    q = "Count from one to twenty, separated by commas."
    full = chat(oai, srv, q, max_tokens=40).choices[0].message.content
    words = [w for w in full.split() if len(w) > 3]
    assert len(words) >= 3, full
    stop = words[2]
    cut = full[:full.index(stop)]
    r = chat(oai, srv, q, max_tokens=40, stop=[stop, "never-appears"])
    assert r.choices[0].message.content == cut and r.choices[0].finish_reason == "stop"
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chat(oai, srv, q, max_tokens=40, stop=stop, stream=True)
                       if ch.choices)
    assert streamed == cut
    m = ant.messages.create(model=srv.model_id, max_tokens=40, extra_body=GREEDY, stop_sequences=[stop],
                            messages=[{"role": "user", "content": q}])
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == stop and m.content[0].text == cut


def test_multi_turn_reuses_the_prefix_cache(srv, oai):
    turns = [{"role": "system", "content": "You are a terse assistant. " * 8},
             {"role": "user", "content": "Name a fruit that is yellow."}]
    r1 = chat(oai, srv, turns, max_tokens=12)
    turns += [{"role": "assistant", "content": r1.choices[0].message.content},
              {"role": "user", "content": "And one that is red?"}]
    r2 = chat(oai, srv, turns, max_tokens=12)
    assert r2.usage.prompt_tokens > r1.usage.prompt_tokens + 5
    # the first turn's whole blocks come from the cache
    assert r2.usage.prompt_tokens_details.cached_tokens >= (r1.usage.prompt_tokens // 16 - 1) * 16 > 0
    assert r2.choices[0].message.content
    # and a cached prefix gives the same answer as the first time
    r3 = chat(oai, srv, turns[:2], max_tokens=12)
    assert r3.usage.prompt_tokens_details.cached_tokens > 0
    assert r3.choices[0].message.content == r1.choices[0].message.content


def test_seed_and_temperature(srv, oai):
    kw = dict(temperature=1.0, top_p=0.9, max_tokens=16)
    a = chat(oai, srv, "Tell me a story.", seed=7, **kw).choices[0].message.content
    b = chat(oai, srv, "Tell me a story.", seed=7, **kw).choices[0].message.content
    c = [chat(oai, srv, "Tell me a story.", seed=s, **kw).choices[0].message.content for s in (8, 9, 10)]
    assert a == b and any(x != a for x in c)


def test_logprobs(srv, oai):
    r = chat(oai, srv, "What is 2 + 2?", max_tokens=8, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) >= 1
    assert "".join(t.token for t in content).startswith(r.choices[0].message.content[:3])
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        tops = [x.logprob for x in t.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert t.top_logprobs[0].token == t.token and abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5  # greedy
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token or not t.token.isprintable()
    assert np.exp([x.logprob for x in content[0].top_logprobs]).sum() <= 1.0 + 1e-5
    streamed = [t for ch in chat(oai, srv, "What is 2 + 2?", max_tokens=8, logprobs=True, top_logprobs=3, stream=True)
                if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
    assert [t.token for t in streamed] == [t.token for t in content]


def test_embeddings(srv, oai):
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly revenue grew by 4 percent."]
    b64 = oai.embeddings.create(model=srv.model_id, input=texts)  # the SDK asks for base64
    flt = oai.embeddings.create(model=srv.model_id, input=texts, encoding_format="float")
    e = np.array([d.embedding for d in flt.data])
    assert e.shape == (3, 576) and [d.index for d in flt.data] == [0, 1, 2]
    assert np.allclose(np.array([d.embedding for d in b64.data]), e, atol=1e-6)
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    single = oai.embeddings.create(model=srv.model_id, input=texts[2], encoding_format="float")
    assert np.allclose(single.data[0].embedding, e[2], atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[1, 2]  # the paraphrase is nearer
    assert flt.usage.prompt_tokens > 10
    tok = oai.embeddings.create(model=srv.model_id, input=[[1, 2, 3, 4]], encoding_format="float")
    assert len(tok.data[0].embedding) == 576


def test_anthropic_messages_plain_and_streaming(srv, ant):
    kw = dict(model=srv.model_id, max_tokens=30, extra_body=GREEDY, system="You answer in one sentence.",
              messages=[{"role": "user", "content": "What is the capital of France?"}])
    m = ant.messages.create(**kw)
    assert m.type == "message" and m.role == "assistant" and "Paris" in m.content[0].text
    assert m.stop_reason == "end_turn" and m.usage.input_tokens > 10 and m.usage.output_tokens > 0
    with ant.messages.stream(**kw) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == m.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == m.usage.output_tokens
    # content as blocks, multi-turn
    m2 = ant.messages.create(model=srv.model_id, max_tokens=10, extra_body=GREEDY, messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
        {"role": "assistant", "content": m.content[0].text},
        {"role": "user", "content": "And of Italy?"}])
    assert m2.content[0].text and m2.usage.input_tokens > m.usage.input_tokens


# ---- concurrency ---------------------------------------------------------------

def test_concurrent_clients_equal_serial_runs(srv, oai):
    prompts = [f"Write a short line about the number {i}." for i in range(8)]
    serial = [chat(oai, srv, p, max_tokens=20).choices[0].message.content for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        together = list(ex.map(lambda p: chat(oai, srv, p, max_tokens=20).choices[0].message.content, prompts))
    assert together == serial
    assert srv.wait_metric("brisk_kv_cache_used_blocks", lambda v: v == 0) == 0


def test_disconnect_mid_stream_frees_the_sequence(srv):
    body = {"model": srv.model_id, "max_tokens": 400, "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "Tell me a very long story about dragons."}]}
    with srv.stream("/v1/chat/completions", body) as (status, lines):
        assert status == 200
        n = 0
        for line in lines:
            n += line.startswith("data: ")
            if n >= 5:
                break
        assert srv.metrics()["brisk_kv_cache_used_blocks"] > 0
    # the connection is closed: the sequence is cancelled and its blocks come back
    assert srv.wait_metric("brisk_kv_cache_used_blocks", lambda v: v == 0) == 0
    assert srv.wait_metric("brisk_running_requests", lambda v: v == 0) == 0
    generated = srv.metrics()["brisk_generated_tokens_total"]
    time.sleep(0.5)
    assert srv.metrics()["brisk_generated_tokens_total"] == generated  # nothing runs any more


# ---- bad input ---------------------------------------------------------------------

def post(srv, path, data, headers=None):
    return srv.request("POST", path, data, headers)


def openai_error(r, status):
    got, j = r
    assert got == status, j
    e = j["error"]
    assert isinstance(e["message"], str) and e["message"] and "type" in e
    return e


def anthropic_error(r, status, type_):
    got, j = r
    assert got == status, j
    assert j["type"] == "error" and j["error"]["type"] == type_ and j["error"]["message"]
    return j["error"]


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_disconnect_while_waiting_for_a_plain_answer_frees_the_sequence(srv, path):
    """A non-streaming request whose client hangs up is cancelled too: it stops long before max_tokens."""
    max_tokens = 450
    body = {"model": srv.model_id, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
    if path == "/v1/completions":
        body["prompt"] = "Once upon a time"
    else:
        body["messages"] = [{"role": "user", "content": "Tell me a very long story about dragons."}]
    before = srv.metrics()["brisk_generated_tokens_total"]
    c = srv.connect()
    c.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert srv.wait_metric("brisk_generated_tokens_total", lambda v: v > before + 2) > before + 2
    assert srv.metrics()["brisk_kv_cache_used_blocks"] > 0
    c.close()  # without reading the answer
    assert srv.wait_metric("brisk_kv_cache_used_blocks", lambda v: v == 0) == 0
    assert srv.wait_metric("brisk_running_requests", lambda v: v == 0) == 0
    generated = srv.metrics()["brisk_generated_tokens_total"]
    assert generated - before < max_tokens // 2  # cancelled, not run to the end
    time.sleep(0.5)
    assert srv.metrics()["brisk_generated_tokens_total"] == generated  # nothing runs any more


def test_bad_input_openai(srv, oai):
    msgs = [{"role": "user", "content": "hi"}]
    good = {"model": srv.model_id, "messages": msgs, "max_tokens": 2}
    e = openai_error(post(srv, "/v1/chat/completions", b'{"model": "x", "messages": [}'), 400)
    assert "malformed JSON" in e["message"]
    openai_error(post(srv, "/v1/chat/completions", b"[1, 2]"), 400)
    for field, value in [("temperature", "hot"), ("max_tokens", 2.5), ("messages", "hi"), ("stream", "yes"),
                         ("top_p", 3), ("stop", 5), ("model", 7), ("n", 2), ("seed", "x"), ("top_logprobs", 2)]:
        e = openai_error(post(srv, "/v1/chat/completions", {**good, field: value}), 400)
        assert e["param"] == field, (field, e)
    openai_error(post(srv, "/v1/chat/completions", {**good, "messages": [{"role": "wizard", "content": "x"}]}), 400)
    openai_error(post(srv, "/v1/chat/completions", {**good, "messages": [{"role": "user", "content": 5}]}), 400)
    openai_error(post(srv, "/v1/completions", {"model": srv.model_id, "prompt": 5}), 400)
    openai_error(post(srv, "/v1/embeddings", {"model": srv.model_id, "input": [1.5]}), 400)
    openai_error(post(srv, "/v1/embeddings", {"model": srv.model_id, "input": [[10 ** 9]]}), 400)
    with pytest.raises(openai.NotFoundError) as ex:
        oai.chat.completions.create(model="no-such-model", messages=msgs)
    assert ex.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as ex:
        oai.chat.completions.create(model=srv.model_id, messages=[{"role": "user", "content": "word " * 2000}])
    assert "context" in ex.value.message
    e = openai_error(post(srv, "/v1/chat/completions", {**good, "pad": "x" * 70000}), 413)
    openai_error(srv.request("GET", "/v1/nothing"), 404)
    openai_error(srv.request("GET", "/v1/chat/completions"), 405)
    # and the server still serves
    assert chat(oai, srv, "What is the capital of France?").choices[0].message.content


def test_bad_input_anthropic(srv, ant):
    good = {"model": srv.model_id, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    anthropic_error(post(srv, "/v1/messages", b"{not json"), 400, "invalid_request_error")
    for field, value in [("max_tokens", "4"), ("temperature", 5), ("messages", {}), ("stop_sequences", "x"),
                         ("system", 3), ("stream", 1)]:
        anthropic_error(post(srv, "/v1/messages", {**good, field: value}), 400, "invalid_request_error")
    anthropic_error(post(srv, "/v1/messages", {k: v for k, v in good.items() if k != "max_tokens"}), 400,
                    "invalid_request_error")
    anthropic_error(post(srv, "/v1/messages", {**good, "messages": [{"role": "system", "content": "x"}]}), 400,
                    "invalid_request_error")
    anthropic_error(post(srv, "/v1/messages", {**good, "model": "nope"}), 404, "not_found_error")
    anthropic_error(post(srv, "/v1/messages", {**good, "pad": "x" * 70000}), 413, "request_too_large")
    with pytest.raises(anthropic.BadRequestError):
        ant.messages.create(model=srv.model_id, max_tokens=4, messages=[{"role": "user", "content": "word " * 2000}])
    with pytest.raises(anthropic.NotFoundError):
        ant.messages.create(model="nope", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
    assert ant.messages.create(**good).content[0].text is not None


def test_oversize_body_without_length_header(srv):
    """A chunked upload (no Content-Length) over the limit: 413 once it is read."""
    def chunks():
        for _ in range(20):
            yield b"x" * 8192
    openai_error(srv.request("POST", "/v1/chat/completions", chunks()), 413)


def test_raw_socket_garbage_keeps_serving(srv, oai):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"\x00\xffNOT HTTP\r\n\r\n")  # then hang up without waiting
    assert chat(oai, srv, "Say hi.", max_tokens=3).choices[0].message.content is not None


# ---- servers of their own --------------------------------------------------------

def test_too_many_concurrent_requests(default_model):
    s = Server(default_model, "--parallel", 1, "--max-queue", 0, "-c", 256, "-t", 2)
    try:
        body = {"model": s.model_id, "max_tokens": 200, "stream": True, "temperature": 0,
                "messages": [{"role": "user", "content": "Tell me a long story."}]}
        with s.stream("/v1/chat/completions", body) as (status, first):
            next(first)
            e = openai_error(post(s, "/v1/chat/completions", {**body, "stream": False}), 429)
            assert e["type"] == "rate_limit_error"
            anthropic_error(post(s, "/v1/messages", {"model": s.model_id, "max_tokens": 2, "messages": body["messages"]}),
                            429, "rate_limit_error")
        # the first one is gone: room again (a request sent while the cancelled stream is
        # still being released may get 429 once; the slot must be free within seconds)
        s.wait_metric("brisk_running_requests", lambda v: v == 0)
        deadline = time.time() + 10
        while True:
            status = post(s, "/v1/chat/completions", {**body, "stream": False, "max_tokens": 2})[0]
            if status != 429 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert status == 200
    finally:
        assert s.stop() == 0


def test_generating_request_swapped_out_of_a_full_cache_resumes(default_model):
    """A KV cache of 128 tokens and 2 slots: two ~40-token prompts start together, and when their generations
    fill the cache the younger one gives its blocks back and waits; it resumes (prompt + what it had generated
    prefilled again) once the older one is done. Nothing is lost: both texts equal their runs alone, the
    streamed one arrives as one uninterrupted stream, and /metrics counts the preemption."""
    s = Server(default_model, "--parallel", 2, "-c", 256, "--kv-size", 128, "-t", 2)
    try:
        def body_of(word):
            return {"model": s.model_id, "prompt": f"The story of the {word} and the castle, told " + "again and " * 8,
                    "max_tokens": 60, "temperature": 0, "ignore_eos": True}

        alone = [post(s, "/v1/completions", body_of(w)) for w in ("river", "forest")]
        for status, out in alone:
            assert status == 200 and out["usage"]["completion_tokens"] == 60, out
        n_prompt = [out["usage"]["prompt_tokens"] for _, out in alone]
        assert max(n_prompt) + 60 <= 128 < sum(n_prompt) + 120 and sum(n_prompt) + 2 <= 128, n_prompt

        def streamed(body):
            text, finish = "", None
            with s.stream("/v1/completions", {**body, "stream": True}, timeout=TIMEOUT) as (status, lines):
                assert status == 200
                for line in lines:
                    if line.startswith("data: ") and line != "data: [DONE]":
                        choice = json.loads(line[6:])["choices"][0]
                        text += choice["text"]
                        finish = choice["finish_reason"] or finish
            return text, finish

        before = s.metrics()["brisk_preemptions_total"]
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            plain = ex.submit(post, s, "/v1/completions", body_of("river"))
            time.sleep(0.05)  # the streamed one is admitted second: the younger, the one preempted
            stream = ex.submit(streamed, body_of("forest"))
            status, out = plain.result(timeout=TIMEOUT)
            text, finish = stream.result(timeout=TIMEOUT)
        assert status == 200 and out["choices"][0]["text"] == alone[0][1]["choices"][0]["text"]
        assert out["usage"]["completion_tokens"] == 60 and out["choices"][0]["finish_reason"] == "length"
        assert text == alone[1][1]["choices"][0]["text"] and finish == "length"
        assert s.metrics()["brisk_preemptions_total"] >= before + 1
        assert s.wait_metric("brisk_running_requests", lambda v: v == 0) == 0
    finally:
        assert s.stop() == 0


def test_requests_wait_for_kv_blocks_and_oversize_prompts_get_400(default_model):
    """A KV cache of 8 blocks (128 tokens) and 2 slots: two requests of ~110 tokens each cannot run together, so
    the second waits in the queue (not a failed step) and both answer as they do alone; a prompt longer than the
    whole cache (but within the context) gets a 400 in each API's format."""
    s = Server(default_model, "--parallel", 2, "-c", 256, "--kv-size", 128, "-t", 2)
    try:
        def body_of(word, max_tokens=24):
            prompt = f"The history of the {word} and the castle, told " + "again and " * 30 + "at length:"
            return {"model": s.model_id, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                    "ignore_eos": True}

        words = ["river", "forest", "harbor"]  # distinct prompts: no shared prefix blocks
        alone = []
        for w in words:
            status, out = post(s, "/v1/completions", body_of(w))
            assert status == 200, out
            alone.append(out)
        n_prompt = alone[0]["usage"]["prompt_tokens"]
        assert 64 < n_prompt and n_prompt + 24 <= 128 < 2 * (n_prompt + 1), n_prompt  # one fits, two do not
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            futs = [ex.submit(post, s, "/v1/completions", body_of(w)) for w in words]
            results = [f.result(timeout=TIMEOUT) for f in futs]
        for (status, out), ref in zip(results, alone):
            assert status == 200, out
            assert out["choices"][0]["text"] == ref["choices"][0]["text"]
            assert out["usage"]["completion_tokens"] == 24
        body = body_of("river")
        assert s.wait_metric("brisk_kv_cache_used_blocks", lambda v: v == 0) == 0
        # a generation that outgrows the whole cache ends as "length", and the server goes on
        status, out = post(s, "/v1/completions", {**body, "max_tokens": 200})
        assert status == 200 and out["choices"][0]["finish_reason"] == "length", out
        # every cache row is used: the last token sampled is the one that found no row left
        assert n_prompt + out["usage"]["completion_tokens"] == 128 + 1
        long_prompt = "river castle " * 100  # > 128 tokens, < 256
        e = openai_error(post(s, "/v1/completions", {**body, "prompt": long_prompt}), 400)
        assert "KV cache" in e["message"]
        anthropic_error(post(s, "/v1/messages", {"model": s.model_id, "max_tokens": 4,
                                                  "messages": [{"role": "user", "content": long_prompt}]}),
                        400, "invalid_request_error")
        e = openai_error(post(s, "/v1/embeddings", {"model": s.model_id, "input": [[1] * 200]}), 400)
        assert "KV cache" in e["message"]
        status, out = post(s, "/v1/completions", {**body, "max_tokens": 2})
        assert status == 200, out
    finally:
        assert s.stop() == 0


def test_gpu_layers_option(default_model):
    """--gpu-layers: 0 runs on the CPU and the startup line says so; a count out of range is a usage error
    (GPU placement itself: tests/gpu/test_gpu_cli.py)."""
    s = Server(default_model, "--gpu-layers", 0, "--parallel", 1, "-c", 128, "-t", 2)
    try:
        assert re.search(r"0 of \d+ layers on the GPU", "".join(s.log)), s.log
        status, out = post(s, "/v1/completions", {"model": s.model_id, "prompt": "Hi", "max_tokens": 2})
        assert status == 200, out
    finally:
        assert s.stop() == 0
    r = subprocess.run([str(BRISK_BIN), "serve", "-m", str(default_model), "--gpu-layers", "-2"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--gpu-layers expects an integer in [-1" in r.stderr


def test_api_key(default_model):
    s = Server(default_model, "--api-key", "sekret", "-c", 256, "-t", 2)
    try:
        assert s.request("GET", "/health")[0] == 200
        for path in ["/v1/models", "/metrics"]:
            openai_error(s.request("GET", path), 401)
        bad = openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0, timeout=TIMEOUT)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=s.url + "/v1", api_key="sekret", max_retries=0, timeout=TIMEOUT)
        assert [m.id for m in good.models.list()] == [s.model_id]
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=s.url, api_key="nope", max_retries=0).messages.create(
                model=s.model_id, max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        m = anthropic.Anthropic(base_url=s.url, api_key="sekret", max_retries=0, timeout=TIMEOUT).messages.create(
            model=s.model_id, max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert m.usage.output_tokens >= 1
        assert s.metrics({"Authorization": "Bearer sekret"})["brisk_request_errors_total"] >= 3
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_in_flight_requests(default_model, sig):
    s = Server(default_model, "-c", 256, "-t", 2)
    try:
        body = {"model": s.model_id, "max_tokens": 40, "stream": True, "temperature": 0,
                "messages": [{"role": "user", "content": "Tell me a long story."}]}
        with s.stream("/v1/chat/completions", body) as (status, lines):
            seen = 0
            while seen < 3:  # the role chunk and two tokens: running, not queued (queued ones are cancelled)
                seen += next(lines).startswith("data: ")
            s.proc.send_signal(sig)
            rest = [line for line in lines if line.startswith("data: ")]
        assert rest[-1] == "data: [DONE]"
        final = json.loads(rest[-2][len("data: "):])
        assert final["choices"][0]["finish_reason"] in ("length", "stop")
        assert s.proc.wait(30) == 0
        assert any("stopped" in line for line in s.log)
        with pytest.raises(ConnectionError):
            s.request("GET", "/health", timeout=5)
    finally:
        s.kill()


def test_chat_prompt_is_the_jinja2_rendered_template(srv, oai, default_model):
    """usage.prompt_tokens of a multi-turn chat = the tokens of the GGUF's chat template rendered by jinja2."""
    import gguf
    from brisk_ffi import Vocab
    from brisk_template_ffi import jinja_render
    field = gguf.GGUFReader(default_model).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    vocab = Vocab(default_model)
    for msgs in ([{"role": "user", "content": "Hello there!"}],
                 [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."},
                  {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "How are you?"}]):
        text = jinja_render(template, {"messages": msgs, "add_generation_prompt": True,
                                       "bos_token": vocab.token_to_piece(vocab.bos).decode(),
                                       "eos_token": vocab.token_to_piece(vocab.eos).decode()})
        want = len(vocab.tokenize(text, add_special=False, parse_special=True))
        assert chat(oai, srv, msgs, max_tokens=1).usage.prompt_tokens == want
