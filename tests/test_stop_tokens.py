"""One owner for end-of-turn tokens and for loading a fine-tuned model (`toolcall_lab.models`).

Evaluation must stop where serving stops: for every chat-template family serve knows, a tokenizer whose vocabulary and
chat template hold that family's end token gives the same stop ids to `evaluate.generate_batch` as
`models.generation_config_for` puts into a served (merged) model's generation config, and a model that writes the end token
stops right there on both paths. `load_model(..., adapter=...)` computes what the two loaders it replaced computed
(`evaluate.load_for_eval`: PEFT on the base model; `serve.load_adapter`: the same after growing the embeddings to the
adapter's tokenizer), reads the base from `adapter_config.json`, and fails clearly on a folder that is no adapter.

The serve-side comparisons pass once serve takes `end_of_turn_token` and `generation_config_for` from
`toolcall_lab.models`; serve's own older copy stops only at one end token and eos, so they fail against it."""
import json, warnings
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from toolcall_lab import evaluate, export, formats, models, serve
from toolcall_lab.inference import generate
from toolcall_lab.models import (UserError, end_of_turn_ids, end_of_turn_token, load_model, load_tokenizer, peft_deprecation_silenced,
                                 tiny_model)
from toolcall_lab.templates import llama3_tokenizer, with_tool_template

torch.set_num_threads(2)

# Minimal chat templates of the families that are not ChatML or Llama 3; each writes its end token after every turn.
GEMMA = ("{%- for m in messages -%}{{- '<start_of_turn>' + m.role + '\\n' + m.content + '<end_of_turn>\\n' -}}{%- endfor -%}"
         "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}")
PHI3 = ("{%- for m in messages -%}{{- '<|' + m.role + '|>\\n' + m.content + '<|end|>\\n' -}}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}")
# Llama 3.1 ends a message with <|eom_id|> after a built-in tool call (it waits for the result), every other turn with <|eot_id|>.
LLAMA31 = ("{{- '<|begin_of_text|>' -}}{%- for m in messages -%}"
           "{{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content -}}"
           "{%- if m.role == 'assistant' and m.get('builtin_call') -%}{{- '<|eom_id|>' -}}{%- else -%}{{- '<|eot_id|>' -}}{%- endif -%}"
           "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}")


def _smollm2_family(end:str, template:str):
    "The real SmolLM2 tokenizer with `end` added as a special token, a template that writes it, and a document-level eos."
    tok = load_tokenizer()
    tok.add_tokens([end], special_tokens=True)
    tok.chat_template, tok.eos_token = template, '<|endoftext|>'  # so the end token is a stop id for being an end token, not eos
    return tok

def _llama3(template:str|None=None):
    "The real Llama 3 tokenizer with `template`, else with the package's llama3-family tool template."
    tok = llama3_tokenizer()
    if template is None: return with_tool_template(tok, 'hermes')
    tok.chat_template = template
    return tok

# family end token -> (tokenizer builder, the token its template closes an assistant turn with)
FAMILIES = {
    '<|im_end|>': (load_tokenizer, '<|im_end|>'),  # ChatML: the real SmolLM2 tokenizer and its own template
    '<|eot_id|>': (_llama3, '<|eot_id|>'),  # the real Llama 3 tokenizer with the package's llama3 tool template
    '<end_of_turn>': (lambda: _smollm2_family('<end_of_turn>', GEMMA), '<end_of_turn>'),
    '<|end|>': (lambda: _smollm2_family('<|end|>', PHI3), '<|end|>'),
    '<|eom_id|>': (lambda: _llama3(LLAMA31), '<|eot_id|>'),  # eom ends a message, never the turn: it stops generation all the same
}
SERVE_TABLE = tuple(t for m in (export, serve) for t in (getattr(m, 'TURN_ENDS', None) or getattr(m, '_TURN_ENDS', ())))


@pytest.fixture(scope='module', params=list(FAMILIES))
def family(request):
    "`(end token, tokenizer, tiny model with its vocabulary, prompt)` for one family."
    build, _ = FAMILIES[request.param]
    tok = build()
    assert request.param in tok.get_vocab() and request.param in tok.chat_template  # the family's token, in vocabulary and template
    prompt = tok.apply_chat_template([{'role': 'user', 'content': 'What is the weather in Seoul?'}], add_generation_prompt=True, tokenize=False)
    return request.param, tok, tiny_model(tok), prompt


def _evaluation_stops(model, tok, prompt, monkeypatch) -> list:
    "The `eos_token_id` that `evaluate.generate_batch` passes to `model.generate` (the shrinking loop gets the same `stop` list; it is tested token for token against `generate` in test_demo_recipe)."
    seen, real = [], model.generate
    monkeypatch.setattr(model, 'generate', lambda *a, **kw: seen.append(kw['eos_token_id']) or real(*a, **kw))
    evaluate.generate_batch(model, tok, [prompt], max_new_tokens=1, shrink=False)
    monkeypatch.undo()
    return seen[0]


def _writes(model, token_id:int):
    "Make `model` write `token_id` at every step (a large logit added after the LM head); returns the hook's handle."
    bias = torch.zeros(model.config.vocab_size); bias[token_id] = 1e4
    return model.lm_head.register_forward_hook(lambda m, inputs, out: out + bias)


# ------------------------------------------------------------------ the table

def test_models_table_covers_every_family_serve_knows():
    assert set(FAMILIES) == set(formats.TURN_ENDS)
    assert set(SERVE_TABLE) <= set(formats.TURN_ENDS), 'serve knows an end token that formats does not'
    assert {f.eot for f in formats.FAMILIES.values()} <= set(formats.TURN_ENDS)  # every framing's end token stops generation
    assert list(formats.TURN_ENDS)[-1] == '<|eom_id|>'  # never chosen as a turn's end while the template writes <|eot_id|>
    assert models.end_of_turn_token.__globals__['TURN_ENDS'] is formats.TURN_ENDS  # models looks its tokens up in formats' table
    assert evaluate.end_of_turn_ids is models.end_of_turn_ids  # evaluation has no table of its own


# ------------------------------------------------------------------ evaluation stops where serving stops

def test_family_end_token_stops_evaluation(family, monkeypatch):
    end, tok, model, prompt = family
    stops = _evaluation_stops(model, tok, prompt, monkeypatch)
    assert tok.convert_tokens_to_ids(end) in stops
    assert tok.eos_token_id in stops
    assert end_of_turn_token(tok) == FAMILIES[end][1]
    assert stops == end_of_turn_ids(tok, model)


def test_evaluation_stops_equal_serving_stops(family, monkeypatch):
    end, tok, model, prompt = family
    served = models.generation_config_for(model, tok).eos_token_id
    assert set(_evaluation_stops(model, tok, prompt, monkeypatch)) == set(served if isinstance(served, list) else [served])


def test_a_model_that_writes_the_end_token_stops_there_on_both_paths(family):
    end, tok, model, prompt = family
    handle, own = _writes(model, tok.convert_tokens_to_ids(end)), model.generation_config
    try:
        evaluated = evaluate.generate_batch(model, tok, [prompt], max_new_tokens=5)[0]
        model.generation_config = models.generation_config_for(model, tok)  # as a served (merged) model has it
        served = generate(model, tok, [{'role': 'user', 'content': 'What is the weather in Seoul?'}], max_new_tokens=5)
    finally: handle.remove(); model.generation_config = own
    assert (evaluated.new_tokens, served.new_tokens) == (1, 1)
    assert evaluated.text == served.text == ''  # the end token is special: never part of the answer


def test_a_token_that_ends_nothing_does_not_stop():
    tok = load_tokenizer()
    model = tiny_model(tok)
    prompt = tok.apply_chat_template([{'role': 'user', 'content': 'hi'}], add_generation_prompt=True, tokenize=False)
    handle = _writes(model, tok.convert_tokens_to_ids('<|endoftext|>'))  # SmolLM2's document end: not eos, not a turn end
    try: g = evaluate.generate_batch(model, tok, [prompt], max_new_tokens=5)[0]
    finally: handle.remove()
    assert g.new_tokens == 5


def test_stops_include_the_models_own_eos_ids():
    tok = load_tokenizer()
    model = tiny_model(tok)
    model.generation_config.eos_token_id = [2, 0]  # e.g. Llama 3.1's generation config lists several
    assert end_of_turn_ids(tok, model) == [2, 0]
    assert models.generation_config_for(model, tok).eos_token_id == [2, 0]


# ------------------------------------------------------------------ one loader for a fine-tuned model

@pytest.fixture(scope='module')
def adapter(tmp_path_factory):
    "A tiny base model folder and a LoRA adapter of random weights trained on it, saved as training saves one."
    work = tmp_path_factory.mktemp('adapter')
    tok = load_tokenizer()
    tiny_model(tok).save_pretrained(work/'base'); tok.save_pretrained(work/'base')
    with peft_deprecation_silenced():
        lora = get_peft_model(load_model(str(work/'base'))[0], LoraConfig(r=4, target_modules='all-linear', init_lora_weights=False))
    lora.save_pretrained(work/'adapter')
    with_tool_template(load_tokenizer(), 'json').save_pretrained(work/'adapter')
    return work


def _old_load_for_eval(base, adapter, merge=False):
    "What `evaluate.load_for_eval` did: PEFT on the loaded base model, then the adapter's tokenizer."
    model, _ = load_model(base, device='cpu', dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).eval()
    return model.merge_and_unload() if merge else model

def _old_load_adapter(adapter):
    "What `serve.load_adapter` did: the base from adapter_config.json, the embeddings grown to the adapter's tokenizer, then PEFT."
    base = json.loads((Path(adapter)/'adapter_config.json').read_text())['base_model_name_or_path']
    model, _ = load_model(base, device='cpu', dtype=torch.float32)
    tok = load_tokenizer(adapter)
    if len(tok) > model.get_input_embeddings().num_embeddings: model.resize_token_embeddings(len(tok))
    return PeftModel.from_pretrained(model, adapter).eval()

def _logits(model, tok):
    ids = tok(tok.apply_chat_template([{'role': 'user', 'content': 'Weather in Seoul?'}], tokenize=False, add_generation_prompt=True),
              return_tensors='pt', add_special_tokens=False)
    with torch.inference_mode(): return model(**ids).logits


def test_one_loader_computes_what_the_old_two_did(adapter):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model, tok = load_model(adapter=adapter/'adapter', device='cpu', dtype=torch.float32)  # the base from adapter_config.json
        merged, _ = load_model(adapter=adapter/'adapter', merge=True, device='cpu', dtype=torch.float32)
    assert not [w for w in caught if 'is_gradient_checkpointing' in str(w.message)]
    assert isinstance(model, PeftModel) and not isinstance(merged, PeftModel)
    assert tok.chat_template == with_tool_template(load_tokenizer(), 'json').chat_template  # the adapter's tokenizer, not the base's
    new = _logits(model, tok)
    with peft_deprecation_silenced():
        old_eval, old_serve = _old_load_for_eval(str(adapter/'base'), adapter/'adapter'), _old_load_adapter(adapter/'adapter')
        old_merged = _old_load_for_eval(str(adapter/'base'), adapter/'adapter', merge=True)
    assert torch.equal(new, _logits(old_eval, tok)) and torch.equal(new, _logits(old_serve, tok))
    assert torch.equal(_logits(merged, tok), _logits(old_merged, tok))
    base, _ = load_model(str(adapter/'base'), device='cpu', dtype=torch.float32)
    assert (new - _logits(base, tok)).abs().max() > 1e-3  # the adapter changes the model, so the equalities mean something
    for m in (model, merged): assert m.generation_config.eos_token_id == end_of_turn_ids(tok, m)


def test_a_grown_tokenizer_grows_the_embeddings(adapter, tmp_path):
    grown_dir = tmp_path/'grown'
    for f in (adapter/'adapter').iterdir(): (grown_dir/f.name).parent.mkdir(exist_ok=True); (grown_dir/f.name).write_bytes(f.read_bytes())
    tok = load_tokenizer(grown_dir); tok.add_tokens(['<tool_result>'], special_tokens=True); tok.save_pretrained(grown_dir)
    model, tok = load_model(adapter=grown_dir, device='cpu', dtype=torch.float32)
    assert model.get_input_embeddings().num_embeddings == len(tok) == len(load_tokenizer()) + 1
    with peft_deprecation_silenced():
        new, old = _logits(model, tok), _logits(_old_load_adapter(grown_dir), tok)
    assert torch.equal(new[..., :-1], old[..., :-1])  # the new token's row is initialised at random, so its column differs


def test_a_named_base_wins_and_missing_bases_fail_clearly(adapter, tmp_path):
    model, _ = load_model('tiny', adapter=adapter/'adapter')
    assert isinstance(model, PeftModel) and model.get_base_model().config._name_or_path != str(adapter/'base')  # the tiny model in memory
    with pytest.raises(UserError, match='has no adapter_config.json.*fix: pass the folder training saved'):
        load_model(adapter=adapter/'base')
    nameless = tmp_path/'nameless'; nameless.mkdir()
    cfg = json.loads((adapter/'adapter'/'adapter_config.json').read_text())
    (nameless/'adapter_config.json').write_text(json.dumps(cfg | {'base_model_name_or_path': None}))
    with pytest.raises(UserError, match='does not name its base model.*fix: name the base model'):
        load_model(adapter=nameless)
    (nameless/'adapter_config.json').write_text('{"base_model')
    with pytest.raises(UserError, match='not valid JSON'):
        load_model(adapter=nameless)


def test_pad_token_is_filled_in_for_a_model_and_for_an_adapter(adapter, tmp_path):
    "A tokenizer saved without a pad token gets its eos as pad: loaded by name, from an adapter folder, and with load_model."
    tok = load_tokenizer()
    tok.pad_token = None
    tok.save_pretrained(tmp_path/'model'); tiny_model(load_tokenizer()).save_pretrained(tmp_path/'model')
    for f in (adapter/'adapter').glob('adapter_*'): (tmp_path/'adapter').mkdir(exist_ok=True); (tmp_path/'adapter'/f.name).write_bytes(f.read_bytes())
    tok.save_pretrained(tmp_path/'adapter')
    assert json.loads((tmp_path/'adapter'/'tokenizer_config.json').read_text()).get('pad_token') is None
    for loaded in (load_tokenizer(str(tmp_path/'model')), load_tokenizer(tmp_path/'adapter'),
                   load_model(str(tmp_path/'model'), device='cpu')[1], load_model(str(tmp_path/'model'), adapter=tmp_path/'adapter', device='cpu')[1]):
        assert loaded.pad_token == loaded.eos_token == '<|im_end|>'
