""":class:`JasperModel`: a loaded model directory (encode, route, index, search)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import attrs
import torch
import torch.nn.functional as F

from jasper_core.contracts import ROUTING_WEIGHTS, Prediction, StepState
from jasper_core.contracts.steering import SteeringInputs
from jasper_core.contracts.steering import steering as steering_formula
from jasper_core.errors import JasperError
from jasper_core.inference import store
from jasper_core.inference.index import Backend, build_index
from jasper_core.inference.layout import (
    INDEX_DIR,
    NOT_TEXT_MODELS,
    WEIGHTS,
    WEIGHTS_CRC,
    read_config,
)
from jasper_core.integrity import file_crc32
from jasper_core.progress import Progress
from jasper_core.suggest import did_you_mean

log = logging.getLogger("jasper.inference")
#: Texts embedded at once; more are embedded in chunks of this size with progress lines.
EMBED_CHUNK = 2048
#: The text embedder ("embedder" registry) of a model whose config.json names none.
DEFAULT_EMBEDDER = "sentence_transformers"
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
        self._registries = None  # the plugins' registries when loaded by :meth:`load` (the text embedder)
        self._fingerprint: str | None = None
        #: the corpus :meth:`search` ranks (``index``/``load_index``; a model directory's ``index/`` on load)
        self.corpus: store.Corpus | None = None

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", plugins: Any = None) -> "JasperModel":
        """Rebuild the stored recipe's model with the installed plugins (``plugins``: the caller's
        already loaded set, as ``jasper search`` passes its own; else loaded here) and load its weights.

        Raises:
            JasperError: not a model directory, an unreadable weights file, or weights that do not fit the recipe.
        """
        from safetensors.torch import load_file

        from jasper_core.plugin_manager import load_plugins
        from jasper_core.recipe import recipe_from_text
        from jasper_core.training.assemble import build_model

        folder = Path(path)
        config = read_config(folder)
        want = config.get(WEIGHTS_CRC)
        if want is not None and (folder / WEIGHTS).is_file() and file_crc32(folder / WEIGHTS) != want:
            raise JasperError(f"{folder / WEIGHTS}: damaged: its CRC-32 is not the {want} that {folder / 'config.json'} "
                              "records; export the model again")
        try:
            tensors = load_file(str(folder / WEIGHTS))
        except Exception as exc:  # missing or damaged file: safetensors raises several types
            raise JasperError(f"{folder / WEIGHTS}: cannot read the weights ({exc})") from None
        plugins = plugins if plugins is not None else load_plugins()
        recipe = recipe_from_text(config["recipe"], plugins.registries, source=f"{folder / 'config.json'} (stored recipe)")
        dev = torch.device(device)
        spec = SimpleNamespace(dim=config["dim"], num_clusters=config["num_clusters"], centroids=tensors["centroids"].to(dev))
        model, target_space = build_model(recipe, plugins.registries, spec, dev)
        try:
            model.load_state_dict(_prefixed(tensors, "model."))
            target_space.load_state_dict(_prefixed(tensors, "target."))
        except RuntimeError as exc:
            raise JasperError(f"{folder / WEIGHTS}: the weights do not fit the stored recipe ({str(exc).splitlines()[0]})") from None
        loaded = cls(config, model, target_space, tensors["centroids"], tensors["centroids_target"], dev)
        loaded._registries = plugins.registries
        if (folder / INDEX_DIR).is_dir():
            loaded.load_index(folder / INDEX_DIR)
        return loaded

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
        """``[N, D]`` raw embeddings of ``texts`` with the model's stored embedding model (progress logged
        to ``jasper.inference`` for more than :data:`EMBED_CHUNK` texts).

        Raises:
            InferenceError: the model has no text embedding model (its data came as vectors).
        """
        if self._embedder is None:
            name = self.embedding_model
            if not name or name in NOT_TEXT_MODELS:
                raise InferenceError(f"this model's data came from {name or 'an unnamed embedding model'!r}, not a text "
                                     "model, so text cannot be embedded for it; pass float tensors [N, D] instead")
            from jasper_core.plugin_manager import load_plugins

            registries = self._registries or load_plugins().registries
            entry = registries["embedder"].get(self.config.get("embedder", DEFAULT_EMBEDDER))
            log.debug("loading the embedding model %s with the %s embedder (%s)", name, entry.name, entry.plugin)
            self._embedder = entry.factory(entry.config() if entry.config else None, model_name=name)
        texts = list(texts)
        if len(texts) <= EMBED_CHUNK:
            return self._embedder(texts).float()
        progress, parts = Progress(log, "embedding texts", len(texts)), []
        for start in range(0, len(texts), EMBED_CHUNK):
            parts.append(self._embedder(texts[start:start + EMBED_CHUNK]).float())
            progress.update(start + len(parts[-1]))
        return torch.cat(parts)

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

    def queries(self, queries: Any) -> torch.Tensor:
        """``[N, D]`` raw question embeddings of ``queries`` (texts are embedded; a matrix is checked and kept),
        to pass to several methods without embedding the texts each time."""
        return self._matrix(queries, "queries")

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
        return self.routing_of(self.forward(queries, steering))

    def routing_of(self, out: Prediction) -> torch.Tensor:
        """``[N, C]`` routing weights of an output of :meth:`forward` (see :meth:`route`)."""
        if ROUTING_WEIGHTS in out.explanation:
            return out.explanation[ROUTING_WEIGHTS].float().cpu()
        sims = F.normalize(out.prediction.float(), dim=-1) @ F.normalize(self.centroids_target.float(), dim=-1).T
        return (sims / NEAREST_CENTROID_TEMPERATURE).softmax(dim=-1).cpu()

    # -- search ---------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """What an encoded corpus depends on besides the corpus (:func:`jasper_core.inference.store.fingerprint`)."""
        if self._fingerprint is None:
            self._fingerprint = store.fingerprint(self.target_space, self.centroids_target, self.cluster_names)
        return self._fingerprint

    def _unit_centroids(self) -> torch.Tensor:
        return F.normalize(self.centroids_target.float(), dim=-1)

    def _lists(self, clusters: Any, corpus: torch.Tensor) -> torch.Tensor:
        """``[S]`` long list of each source: its given cluster (a name or number), else (``None``, ``-1``, or no
        ``clusters`` at all) the nearest target-space centroid."""
        nearest = (corpus @ self._unit_centroids().to(corpus.device).T).argmax(dim=1)
        if clusters is None:
            return nearest
        if len(clusters) != corpus.shape[0]:
            raise InferenceError(f"{len(clusters)} clusters for {corpus.shape[0]} sources")
        rows = [self.cluster_index(c) if isinstance(c, str) else -1 if c is None else int(c) for c in clusters]
        bad = [r for r in rows if not -1 <= r < self.num_clusters]
        if bad:
            raise InferenceError(f"cluster number {bad[0]} out of range; this model has clusters 0..{self.num_clusters - 1}")
        given = torch.tensor(rows, dtype=torch.long, device=corpus.device)
        return torch.where(given >= 0, given, nearest)

    def index(self, sources: Any, ids: Sequence[Any] | None = None, clusters: Sequence[Any] | None = None, *,
              texts: Sequence[str] | None = None, backend: Backend = "auto",
              corpus_sha256: str | None = None) -> "JasperModel":
        """Encode a corpus (texts or ``[S, D]``) and keep it for :meth:`search`. Returns self.

        Args:
            ids: one per source, default ``0..S-1``.
            clusters: the cluster (name or number) of each source: its list for routed search. Sources without
                one (``None`` or ``-1``, or no ``clusters``) go to their nearest target-space centroid.
            texts: returned with the hits (default: the sources when they are texts).
            backend: ``"faiss"`` (an IVF whose lists are the clusters; torch with one warning when FAISS is
                not installed), ``"torch"``, or ``"auto"`` (FAISS when installed).
            corpus_sha256: the content hash of the file the corpus came from (recorded in a saved index).
        """
        if texts is None:
            texts = [sources] if isinstance(sources, str) else list(sources) if _is_texts(sources) else None
        corpus = F.normalize(self.encode_corpus(sources).to(self.device), dim=-1)
        ids = list(range(corpus.shape[0])) if ids is None else list(ids)
        if len(ids) != corpus.shape[0] or texts is not None and len(texts) != len(ids):
            raise InferenceError(f"{len(ids)} ids{'' if texts is None else f' and {len(texts)} texts'} for {corpus.shape[0]} sources")
        lists = self._lists(clusters, corpus)
        built = build_index(corpus, lists, self._unit_centroids(), backend)
        self.corpus = store.Corpus(built, ids, texts, lists.cpu(), self.fingerprint, self.embedding_model, corpus_sha256)
        return self

    def save_index(self, folder: str | Path) -> Path:
        """Write the indexed corpus as an index directory (reloaded by :meth:`load_index`); returns it."""
        return store.save(self._indexed(), folder)

    def load_index(self, folder: str | Path, *, backend: Backend = "auto") -> "JasperModel":
        """Search the corpus of an index directory from now on (no re-encoding). Returns self.

        Raises:
            JasperError: not an index directory, or one built for another model (the corpus must be re-encoded).
        """
        self.corpus = store.load(folder, self.fingerprint, self._unit_centroids().cpu(), backend)
        return self

    def _indexed(self) -> store.Corpus:
        if self.corpus is None:
            raise InferenceError("no corpus indexed yet; call index(sources) or load_index(folder) first")
        return self.corpus

    def search(self, queries: Any, k: int = 10, steering: Any = None,
               routed_top_m: int | None = None) -> list[list[dict[str, Any]]]:
        """Rank the indexed corpus for each query by cosine of its prediction.

        Args:
            queries: texts or ``[N, D]``. k: results per query. steering: as in :meth:`steering`.
            routed_top_m: only sources of the router's top-m clusters are candidates (the index's lists).

        Returns:
            per query, up to ``k`` dicts ``{"id", "score", "cluster"}`` (and ``"text"`` when the corpus came
            as text), best first.
        """
        corpus = self._search_corpus(k, routed_top_m)  # checked before the queries are embedded
        return self._ranked(corpus, self.forward(queries, steering), k, routed_top_m)

    def search_output(self, out: Prediction, k: int = 10, routed_top_m: int | None = None) -> list[list[dict[str, Any]]]:
        """:meth:`search` for an output of :meth:`forward` (a caller that also wants the routing of the same
        queries, :meth:`routing_of`, runs the model once)."""
        return self._ranked(self._search_corpus(k, routed_top_m), out, k, routed_top_m)

    def _search_corpus(self, k: int, routed_top_m: int | None) -> store.Corpus:
        """The indexed corpus, after checking the search arguments."""
        corpus = self._indexed()
        if k < 1:
            raise InferenceError(f"k must be at least 1, got {k}")
        if routed_top_m is not None and not 1 <= routed_top_m <= self.num_clusters:
            raise InferenceError(f"routed_top_m must be between 1 and {self.num_clusters}, got {routed_top_m}")
        return corpus

    def _ranked(self, corpus: store.Corpus, out: Prediction, k: int, routed_top_m: int | None) -> list[list[dict[str, Any]]]:
        lists = None if routed_top_m is None else self.routing_of(out).topk(routed_top_m, dim=1).indices  # [N, m]
        hits = corpus.index.search(F.normalize(out.prediction.float(), dim=-1), k, lists)
        results = []
        for scores, rows in zip(hits.scores.tolist(), hits.rows.tolist()):
            results.append([self._hit(corpus, r, v) for v, r in zip(scores, rows) if r >= 0])
        return results

    def _hit(self, corpus: store.Corpus, row: int, score: float) -> dict[str, Any]:
        hit = {"id": corpus.ids[row], "score": score, "cluster": self.cluster_names[int(corpus.clusters[row])]}
        if corpus.texts is not None:
            hit["text"] = corpus.texts[row]
        return hit


def _is_texts(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(t, str) for t in x)


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
