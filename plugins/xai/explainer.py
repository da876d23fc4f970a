"""Explanations of a trained predictor: routing, coarse/fine, atypicality, steering influence.

Works for routing models (``decomposed``: routing comes from the router) and for plain ones
(``jepa``: routing is read off the prediction's cosine similarity to the target-space centroids).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, NamedTuple

import torch

from jasper_core import ATYPICALITY, COARSE, ROUTING_WEIGHTS, StepState
from jasper_plugins.nn import l2_normalize

NEAREST_CENTROID_TEMPERATURE = 0.05


class _Pass(NamedTuple):
    weights: torch.Tensor
    prediction: torch.Tensor
    atypicality: torch.Tensor
    source: str
    coarse_norm: torch.Tensor


class XAI:
    """Explain predictions of a trained model on its dataset.

    Args:
        model: the trained predictor (put in eval mode).
        target: the target space (callable ``[N, D] -> [N, D]``).
        dataset: the dataset the model was trained on (centroids, corpus, texts, cluster names).
    """

    def __init__(self, model: torch.nn.Module, target: Any, dataset: Any) -> None:
        self.model = model.eval()
        self.target = target
        self.ds = dataset
        with torch.no_grad():
            self.centroids = target(dataset.centroids)  # [C, D]
            self.corpus = l2_normalize(target(dataset.sources))  # [S, D]
        self.state = StepState.after_training(self.centroids)
        self.names = list(dataset.cluster_names)
        self.texts = dataset.texts
        train = dataset.split("train")
        self.known_pairs = train
        self.known_questions = l2_normalize(dataset.questions[dataset.pair_question[train]])
        q = dataset.questions[dataset.pair_question[train]]
        atyp = self._forward(q, torch.zeros_like(q)).atypicality
        self.typical_atypicality = (float(atyp.mean()), float(atyp.std()) if atyp.numel() > 1 else 0.0)

    @torch.no_grad()
    def _forward(self, question: torch.Tensor, steering: torch.Tensor) -> "_Pass":
        """One model pass: routing weights [B,C], prediction [B,D], atypicality [B] (‖fine‖), coarse norm [B]."""
        out = self.model(question, steering, self.state)
        pred = out.prediction.float()
        if ROUTING_WEIGHTS in out.explanation:
            weights = out.explanation[ROUTING_WEIGHTS].float()
            source = "router"
        else:
            sims = l2_normalize(pred) @ l2_normalize(self.centroids).T
            weights = (sims / NEAREST_CENTROID_TEMPERATURE).softmax(dim=-1)
            source = "nearest_centroid"
        coarse = out.explanation[COARSE].float() if COARSE in out.explanation else weights @ self.centroids
        atyp = out.explanation[ATYPICALITY].float() if ATYPICALITY in out.explanation else (pred - coarse).norm(dim=-1)
        return _Pass(weights, pred, atyp, source, coarse.norm(dim=-1))

    @staticmethod
    def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        p, q = p.clamp_min(1e-12), q.clamp_min(1e-12)
        return (p * (p.log() - q.log())).sum(dim=-1)

    def explain_prediction(self, question: torch.Tensor, steering: torch.Tensor | None = None, *,
                           neighbours: int = 3, top_sources: int = 3) -> dict[str, Any] | list[dict[str, Any]]:
        """Explain one question ``[D]`` (returns a dict) or a batch ``[B, D]`` (returns a list of dicts)."""
        single = question.dim() == 1
        q = question.unsqueeze(0) if single else question
        q = q.to(self.centroids.device).float()
        s = torch.zeros_like(q) if steering is None else (steering.unsqueeze(0) if steering.dim() == 1 else steering).to(q).float()
        steered, unsteered = self._forward(q, s), self._forward(q, torch.zeros_like(q))
        w, pred, atyp, source = steered.weights, steered.prediction, steered.atypicality, steered.source
        kl = self._kl(w, unsteered.weights)
        shift = (pred - unsteered.prediction).norm(dim=-1)
        sims = l2_normalize(q) @ self.known_questions.T  # [B, N_train]
        nn_val, nn_idx = sims.topk(min(neighbours, sims.shape[1]), dim=1)
        src_val, src_idx = (l2_normalize(pred) @ self.corpus.T).topk(min(top_sources, self.corpus.shape[0]), dim=1)
        out = []
        for i in range(q.shape[0]):
            order = torch.argsort(w[i], descending=True)
            distribution = {self.names[int(c)]: float(w[i, c]) for c in order}
            expl = {
                "prediction": pred[i],
                "routing_source": source,
                "primary_subspace": self.names[int(order[0])],
                "confidence": float(w[i, order[0]]),
                "routing_distribution": distribution,
                "steering_influence": {"kl": float(kl[i]), "l2_shift": float(shift[i]), "steered": steering is not None},
                "atypicality": float(atyp[i]),
                "typical_atypicality": {"mean": self.typical_atypicality[0], "std": self.typical_atypicality[1]},
                "coarse_norm": float(steered.coarse_norm[i]),
                "similar_pairs": [self._pair_record(int(self.known_pairs[j]), float(v)) for v, j in zip(nn_val[i], nn_idx[i])],
                "top_sources": [self._source_record(int(j), float(v)) for v, j in zip(src_val[i], src_idx[i])],
            }
            expl["actionable_signal"] = actionable_signal(expl, self.names[int(order[1])] if len(order) > 1 else None)
            out.append(expl)
        return out[0] if single else out

    def compare_steering_influence(self, question: torch.Tensor, steerings: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """One question ``[D]`` under several named steerings ``{name: [D]}``."""
        result = {}
        for name, steering in steerings.items():
            e = self.explain_prediction(question, steering)
            result[name] = {"primary_subspace": e["primary_subspace"], "confidence": e["confidence"],
                            "steering_influence": e["steering_influence"], "atypicality": e["atypicality"]}
        return result

    def _pair_record(self, pair: int, similarity: float) -> dict[str, Any]:
        rec: dict[str, Any] = {"pair": pair, "similarity": similarity, "cluster": self.names[int(self.ds.pair_cluster[pair])]}
        if self.texts.get("questions"):
            rec["question"] = self.texts["questions"][int(self.ds.pair_question[pair])]
        if self.texts.get("sources"):
            rec["source"] = self.texts["sources"][int(self.ds.pair_source[pair])]
        return rec

    def _source_record(self, source: int, similarity: float) -> dict[str, Any]:
        cluster = int(self.ds.source_cluster[source])
        rec: dict[str, Any] = {"source": source, "similarity": similarity, "cluster": self.names[cluster] if cluster >= 0 else None}
        if self.texts.get("sources"):
            rec["text"] = self.texts["sources"][source]
        return rec

    @staticmethod
    def to_json(explanation: Any, *, include_prediction: bool = False) -> str:
        """JSON text of one explanation or a list of them."""
        def clean(e: dict) -> dict:
            e = dict(e)
            pred = e.pop("prediction")
            if include_prediction:
                e["prediction"] = [float(x) for x in pred]
            return e
        data = [clean(e) for e in explanation] if isinstance(explanation, list) else clean(explanation)
        return json.dumps(data, indent=2, ensure_ascii=False)


def actionable_signal(e: Mapping[str, Any], runner_up: str | None) -> str:
    """One sentence saying what to do with this prediction."""
    conf, primary = e["confidence"], e["primary_subspace"]
    mean, std = e["typical_atypicality"]["mean"], e["typical_atypicality"]["std"]
    atypical = e["atypicality"] > mean + 2 * max(std, 1e-6)
    influence = e["steering_influence"]
    if conf < 0.5 and runner_up:
        return (f"Routing is uncertain between '{primary}' ({conf:.2f}) and '{runner_up}': add a steering hint "
                f"(a cluster or keywords) or search both subspaces.")
    if atypical:
        return (f"Routed to '{primary}' ({conf:.2f}) but the question is atypical for it (atypicality "
                f"{e['atypicality']:.2f} vs {mean:.2f}±{std:.2f} in training): check the retrieved sources, "
                "and consider adding similar questions to the training data.")
    if influence["steered"] and influence["kl"] < 0.01 and influence["l2_shift"] < 0.01:
        return f"Confident routing to '{primary}' ({conf:.2f}); the steering hint changed nothing, so it is not needed here."
    if influence["steered"]:
        return (f"Routed to '{primary}' ({conf:.2f}); the steering hint moved the routing (KL {influence['kl']:.2f}) "
                f"and the prediction ({influence['l2_shift']:.2f}): the answer depends on the hint, so choose it deliberately.")
    return f"Confident routing to '{primary}' ({conf:.2f}) for a typical question: the retrieval can be trusted as it is."
