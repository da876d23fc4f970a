""":class:`JasperModel`: a loaded model directory (encode, route, index, search)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import attrs
import torch
import torch.nn.functional as F

from jasper_core.contracts import ROUTING_WEIGHTS, Prediction, StepState
from jasper_core.contracts.steering import SteeringInputs, steering as steering_formula
from jasper_core.errors import JasperError
from jasper_core.inference.layout import NOT_TEXT_MODELS, WEIGHTS, read_config
from jasper_core.suggest import did_you_mean

#: Temperature of the nearest-centroid routing of models without a router (as ``jasper explain``).
NEAREST_CENTROID_TEMPERATURE = 0.05


class InferenceError(JasperError, ValueError):
    """A query, corpus or hint the model cannot take (one line saying why)."""


@attrs.frozen
class Keywords:
    """A keyword hint: ``model.search(q, steering=Keywords("json parse"))`` (embedded, then the keyword formula)."""

    text: str


def load(path: str | Path, *, device: str = "cpu") -> "JasperModel":
    """Load a model directory written by ``jasper export`` (no dataset, no optimiser)."""
    return JasperModel.load(path, device=device)


class JasperModel:
    """A trained predictor with its target space and centroids, ready to encode and search.

    Attributes:
        config: the model directory's ``config.json``.
        model / target_space: the predictor and its target space (eval mode).
        centroids: ``[C, D]`` raw-space centroids. centroids_target: ``[C, D]`` target-space centroids.
        cluster_names: C names.
    """

    def __init__(self, config: dict[str, Any], model: torch.nn.Module, target_space: torch.nn.Module,
                 centroids: torch.Tensor, centroids_target: torch.Tensor, device: torch.device) -> None:
        self.config = config
        self.model = model.eval()
        self.target_space = target_space.eval()
        self.device = device
        self.centroids = centroids.to(device)
        self.centroids_target = centroids_target.to(device)
        self.cluster_names = list(config["cluster_names"])
        self.state = StepState.after_training(self.centroids_target)
        self._embedder = None
        self._corpus: torch.Tensor | None = None  # [S, D] unit-norm target-space
        self._ids: list[Any] = []
        self._source_cluster: torch.Tensor | None = None  # [S] long

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> "JasperModel":
        """Rebuild the stored recipe's model with the installed plugins and load its weights.

        Raises:
            JasperError: not a model directory, an unreadable weights file, or weights that do not fit the recipe.
        """
        from safetensors.torch import load_file

        from jasper_core.plugin_manager import load_plugins
        from jasper_core.recipe import recipe_from_text
        from jasper_core.training.assemble import build_model

        folder = Path(path)
        config = read_config(folder)
        try:
            tensors = load_file(str(folder / WEIGHTS))
        except Exception as exc:  # missing or damaged file: safetensors raises several types
            raise JasperError(f"{folder / WEIGHTS}: cannot read the weights ({exc})") from None
        plugins = load_plugins()
        recipe = recipe_from_text(config["recipe"], plugins.registries, source=f"{folder / 'config.json'} (stored recipe)")
        dev = torch.device(device)
        spec = SimpleNamespace(dim=config["dim"], num_clusters=config["num_clusters"], centroids=tensors["centroids"].to(dev))
        model, target_space = build_model(recipe, plugins.registries, spec, dev)
        try:
            model.load_state_dict(_prefixed(tensors, "model."))
            target_space.load_state_dict(_prefixed(tensors, "target."))
        except RuntimeError as exc:
            raise JasperError(f"{folder / WEIGHTS}: the weights do not fit the stored recipe ({str(exc).splitlines()[0]})") from None
        return cls(config, model, target_space, tensors["centroids"], tensors["centroids_target"], dev)

    # -- inputs ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.config["dim"])

    @property
    def num_clusters(self) -> int:
        return int(self.config["num_clusters"])

    @property
    def embedding_model(self) -> str | None:
        return self.config.get("embedding_model")

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """``[N, D]`` raw embeddings of ``texts`` with the model's stored embedding model.

        Raises:
            InferenceError: the model has no text embedding model (its data came as vectors).
        """
        if self._embedder is None:
            name = self.embedding_model
            if not name or name in NOT_TEXT_MODELS:
                raise InferenceError(f"this model's data came from {name or 'an unnamed embedding model'!r}, not a text "
                                     "model, so text cannot be embedded for it; pass float tensors [N, D] instead")
            import jasper_plugins.data.builder as builder

            self._embedder = builder.sentence_transformer_embedder(name, progress=False)
        return self._embedder(list(texts)).float()

    def _matrix(self, x: Any, what: str) -> torch.Tensor:
        """Texts (embedded) or a float tensor / array ``[N, D]`` (or one ``[D]`` row) → ``[N, D]`` on the device."""
        if isinstance(x, str):
            x = [x]
        if isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x):
            out = self.embed(x) if x else torch.zeros(0, self.dim)
        else:
            out = torch.as_tensor(x, dtype=torch.float32)
        if out.dim() == 1:
            out = out.unsqueeze(0)
        if out.dim() != 2 or out.shape[1] != self.dim:
            raise InferenceError(f"{what} must be texts or a float array [N, {self.dim}], got shape {list(out.shape)}")
        return out.to(self.device, torch.float32)

    def cluster_index(self, name: str) -> int:
        """Row of cluster ``name``; raises InferenceError with a did-you-mean and the names."""
        if name not in self.cluster_names:
            raise InferenceError(f"unknown cluster {name!r}{did_you_mean(name, self.cluster_names)}; "
                                 f"clusters: {', '.join(self.cluster_names)}")
        return self.cluster_names.index(name)

    def steering(self, question: torch.Tensor, steering: Any = None) -> torch.Tensor:
        """``[N, D]`` steering for ``question [N, D]``: None → zeros; a cluster name → the centroid formula with
        that cluster's raw centroid; :class:`Keywords` → the keyword formula; a ``[D]`` or ``[N, D]`` vector as given."""
        n = question.shape[0]
        if steering is None:
            return torch.zeros_like(question)
        if isinstance(steering, str):
            c = self.centroids[self.cluster_index(steering)].expand(n, -1)
            return steering_formula("centroid", SteeringInputs(question=question, centroid=c))
        if isinstance(steering, Keywords):
            kw = self.embed([steering.text]).to(question).expand(n, -1)
            return steering_formula("keyword", SteeringInputs(question=question, keywords=kw))
        s = torch.as_tensor(steering, dtype=torch.float32).to(question.device)
        if s.dim() == 1 and s.shape[0] == self.dim:
            return s.expand(n, -1)
        if s.shape == question.shape:
            return s
        raise InferenceError(f"steering must be None, a cluster name, Keywords(text), or a vector [{self.dim}] or "
                             f"[{n}, {self.dim}], got shape {list(s.shape)}")

    # -- encoding -------------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, queries: Any, steering: Any = None) -> Prediction:
        """The model's full output for ``queries`` (texts or ``[N, D]``): prediction ``[N, D]`` and explanation."""
        q = self._matrix(queries, "queries")
        return self.model(q, self.steering(q, steering), self.state)

    def encode_queries(self, queries: Any, steering: Any = None) -> torch.Tensor:
        """``[N, D]`` float32 CPU predicted source embeddings (target space) of ``queries`` (texts or ``[N, D]``)."""
        return self.forward(queries, steering).prediction.float().cpu()

    @torch.no_grad()
    def encode_corpus(self, sources: Any) -> torch.Tensor:
        """``[S, D]`` float32 CPU target-space embeddings of ``sources`` (texts or ``[S, D]``; identity for an identity target space)."""
        return self.target_space(self._matrix(sources, "sources")).float().cpu()

    @torch.no_grad()
    def route(self, queries: Any, steering: Any = None) -> torch.Tensor:
        """``[N, C]`` routing weights: the router's (``ROUTING_WEIGHTS``) for routing models, otherwise a softmax
        of the prediction's cosine to the target-space centroids at temperature 0.05."""
        return self._route(self.forward(queries, steering))

    def _route(self, out: Prediction) -> torch.Tensor:
        if ROUTING_WEIGHTS in out.explanation:
            return out.explanation[ROUTING_WEIGHTS].float().cpu()
        sims = F.normalize(out.prediction.float(), dim=-1) @ F.normalize(self.centroids_target.float(), dim=-1).T
        return (sims / NEAREST_CENTROID_TEMPERATURE).softmax(dim=-1).cpu()

    # -- search ---------------------------------------------------------------------------------
    def index(self, sources: Any, ids: Sequence[Any] | None = None) -> "JasperModel":
        """Encode and keep a corpus (texts or ``[S, D]``) for :meth:`search`; each source is assigned the cluster of
        its nearest target-space centroid. ``ids`` default to ``0..S-1``. Returns self."""
        corpus = F.normalize(self.encode_corpus(sources), dim=-1)
        ids = list(range(corpus.shape[0])) if ids is None else list(ids)
        if len(ids) != corpus.shape[0]:
            raise InferenceError(f"{len(ids)} ids for {corpus.shape[0]} sources")
        self._corpus, self._ids = corpus, ids
        self._source_cluster = (corpus @ F.normalize(self.centroids_target.float().cpu(), dim=-1).T).argmax(dim=1)
        return self

    @property
    def source_cluster(self) -> torch.Tensor:
        """``[S]`` long cluster of each indexed source."""
        if self._source_cluster is None:
            raise InferenceError("no corpus indexed yet; call index(sources) first")
        return self._source_cluster

    def search(self, queries: Any, k: int = 10, steering: Any = None,
               routed_top_m: int | None = None) -> list[list[dict[str, Any]]]:
        """Rank the indexed corpus for each query by cosine of its prediction.

        Args:
            queries: texts or ``[N, D]``. k: results per query. steering: as in :meth:`steering`.
            routed_top_m: only sources of the router's top-m clusters are candidates.

        Returns:
            per query, up to ``k`` dicts ``{"id", "score", "cluster"}``, best first.
        """
        clusters = self.source_cluster
        if k < 1:
            raise InferenceError(f"k must be at least 1, got {k}")
        out = self.forward(queries, steering)
        scores = F.normalize(out.prediction.float().cpu(), dim=-1) @ self._corpus.T  # [N, S]
        if routed_top_m is not None:
            if not 1 <= routed_top_m <= self.num_clusters:
                raise InferenceError(f"routed_top_m must be between 1 and {self.num_clusters}, got {routed_top_m}")
            top = self._route(out).topk(routed_top_m, dim=1).indices  # [N, m]
            allowed = (clusters.unsqueeze(0).unsqueeze(2) == top.unsqueeze(1)).any(dim=2)  # [N, S]
            scores = scores.masked_fill(~allowed, float("-inf"))
        values, rows = scores.topk(min(k, scores.shape[1]), dim=1)
        return [[{"id": self._ids[r], "score": float(v), "cluster": self.cluster_names[int(clusters[r])]}
                 for v, r in zip(vs.tolist(), rs.tolist()) if v != float("-inf")]
                for vs, rs in zip(values, rows)]


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
