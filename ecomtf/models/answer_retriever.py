"""Customer question -> the best FAQ answers, with a "no good answer" decision."""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
from ecomtf.layers.pretrained_text_encoder import PretrainedTextEncoder
from ecomtf.layers.transformer_text_encoder import TransformerTextEncoder
from ecomtf.text import metrics as text_metrics

QUERY = "query"
ANSWER = "answer"
ANSWER_ID = "answer_id"


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class AnswerRetriever(tfrs.Model):
    """A dual encoder (question <-> answer) trained on tensorflow-recommenders' Retrieval task.

    Both towers read raw text (TF Text normalization and tokenization in the
    graph), encode it, project it and L2-normalize it, so a score is a cosine
    similarity. Training uses ``tfrs.tasks.Retrieval``: each question's
    answer is the positive and the other answers of the batch are negatives
    (answers with the same id are not counted as negatives:
    ``remove_accidental_hits``). By default the towers share one encoder (few
    FAQ pairs go further that way) and keep separate projections.

    The FAQ to answer from is the *index*: ``set_index(ids, answers,
    documents, known_questions, known_question_ids)``. Each answer is found
    through its document (question tower <-> answer tower) and, optionally,
    through questions known to have that answer (e.g. the training
    questions; question tower <-> question tower): an answer's score is the
    best of its keys. ``retrieve`` scores every key (brute force, exact; FAQs
    are small) and flags a question as having no good answer when the best
    score is below ``threshold``, which ``calibrate`` chooses on validation
    questions.

    Args:
        query_encoder: text encoder layer for questions.
        answer_encoder: text encoder for answers (None: share the query's).
        embedding_dim: size of the projected, normalized embeddings.
        temperature: softmax temperature of the retrieval loss.
        answer_ids, answers, documents, known_questions, known_question_ids:
            the index (see ``set_index``).
        threshold: below this top score: no good answer (-1: never).
        top_k: answers returned per question by default and by the export.
        projection_initializer: initializer of the two projections' kernels
            (``"identity"`` with ``embedding_dim`` = the encoder's width
            starts from the pretrained encoder's own similarity, as
            ``from_texts(encoder="minilm")`` does).

    Example:
        >>> model = AnswerRetriever.from_texts(questions, answers)
        >>> model.compile(LazyAdam(3e-3))
        >>> model.fit(make_pairs(questions, answers, ids).batch(64), epochs=10)
        >>> model.set_index(faq.answer_ids, faq.answers)
        >>> model.retrieve(["how do i get my money back"])["answer_id"][0, 0]
        'get_refund'

    Reference:
        Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus
        Item Recommendations", RecSys 2019 (in-batch softmax dual encoders).
    """

    def __init__(
        self,
        query_encoder,
        answer_encoder=None,
        embedding_dim: int = 128,
        temperature: float = 0.05,
        answer_ids: Sequence[str] = (),
        answers: Sequence[str] = (),
        documents: Sequence[str] | None = None,
        known_questions: Sequence[str] = (),
        known_question_ids: Sequence[str] = (),
        threshold: float = -1.0,
        top_k: int = 5,
        projection_initializer: str = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(query_encoder, dict):
            query_encoder = tf.keras.layers.deserialize(query_encoder)
        if isinstance(answer_encoder, dict):
            answer_encoder = tf.keras.layers.deserialize(answer_encoder)
        self.query_encoder = query_encoder
        self.shared_encoder = answer_encoder is None
        self.answer_encoder = query_encoder if answer_encoder is None else answer_encoder
        self.embedding_dim = int(embedding_dim)
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        self.top_k = int(top_k)
        # === Layers ===
        self.projection_initializer = str(projection_initializer)
        self.query_head = tf.keras.layers.Dense(self.embedding_dim, name="query_projection",
                                                kernel_initializer=self.projection_initializer)
        self.answer_head = tf.keras.layers.Dense(self.embedding_dim, name="answer_projection",
                                                 kernel_initializer=self.projection_initializer)
        self.task = tfrs.tasks.Retrieval(temperature=self.temperature, remove_accidental_hits=True)
        self.set_index(answer_ids, answers, documents, known_questions, known_question_ids)

    # === Builder ===
    @classmethod
    def from_texts(cls, questions, answers, *, encoder: str = "ngram", output_dim: int = 128,
                   embedding_dim: int = 128, shared_encoder: bool = True,
                   **encoder_kwargs) -> "AnswerRetriever":
        """A model whose vocabularies come from training questions and answers.

        Args:
            questions, answers: training texts only (answers may repeat).
            encoder: ``"ngram"``, ``"transformer"``, ``"minilm"``
                (``BertSentenceEncoder``, all-MiniLM-L6-v2 from its pip
                package, frozen unless ``trainable_layers=N``; projections
                start as the identity, ``embedding_dim`` is its width) or
                ``"pretrained"`` (a local checkpoint, ``checkpoint="dir"``; see
                ``PretrainedTextEncoder``; with ``shared_encoder=False`` each
                tower fine-tunes its own copy).
            output_dim: encoder size (a pretrained encoder has its own).
            embedding_dim: projected embedding size.
            shared_encoder: one encoder for both towers (default), learned on
                questions and answers together.
            **encoder_kwargs: passed to the encoder's ``from_corpus`` (and
                ``temperature``, ``top_k``, ``threshold`` to the model).
        """
        model_kwargs = {k: encoder_kwargs.pop(k) for k in ("temperature", "top_k", "threshold")
                        if k in encoder_kwargs}
        questions = [str(t) for t in np.asarray(questions).reshape(-1)]
        answers = [str(t) for t in dict.fromkeys(np.asarray(answers).reshape(-1).tolist())]
        if encoder == "minilm":
            # all-MiniLM-L6-v2 was trained as a dual encoder of exactly this
            # kind (mean-pooled, cosine, in-batch negatives): identity
            # projections of its width start from its own similarity.
            names = ["encoder"] if shared_encoder else ["query_encoder", "answer_encoder"]
            towers = [BertSentenceEncoder(name=name, **encoder_kwargs) for name in names]
            return cls(towers[0], towers[1] if len(towers) > 1 else None, embedding_dim=towers[0].output_dim,
                       projection_initializer="identity", **model_kwargs)
        if encoder == "pretrained":
            if "checkpoint" not in encoder_kwargs:
                raise ValueError('encoder="pretrained" needs checkpoint= (a local SavedModel directory)')
            names = ["encoder"] if shared_encoder else ["query_encoder", "answer_encoder"]
            towers = [PretrainedTextEncoder(name=name, **encoder_kwargs) for name in names]
            return cls(towers[0], towers[1] if len(towers) > 1 else None, embedding_dim=embedding_dim,
                       **model_kwargs)
        build = {"ngram": NgramEmbeddingEncoder, "transformer": TransformerTextEncoder}.get(encoder)
        if build is None:
            raise ValueError(f"encoder must be 'ngram', 'transformer' or 'pretrained', got {encoder!r}")
        if shared_encoder:
            query_enc = build.from_corpus(questions + answers, output_dim, name="encoder", **encoder_kwargs)
            answer_enc = None
        else:
            query_enc = build.from_corpus(questions, output_dim, name="query_encoder", **encoder_kwargs)
            answer_enc = build.from_corpus(answers, output_dim, name="answer_encoder", **encoder_kwargs)
        return cls(query_enc, answer_enc, embedding_dim=embedding_dim, **model_kwargs)

    # === Towers ===
    def embed_queries(self, text, training=None):
        """``[batch, embedding_dim]`` unit vectors for raw question text."""
        x = self.query_head(self.query_encoder(text, training=training))
        return tf.math.l2_normalize(x, axis=-1)

    def embed_answers(self, text, training=None):
        """``[batch, embedding_dim]`` unit vectors for raw answer text."""
        x = self.answer_head(self.answer_encoder(text, training=training))
        return tf.math.l2_normalize(x, axis=-1)

    def call(self, inputs, training=None):
        """``(query embeddings, answer embeddings)`` of a feature dict."""
        return (self.embed_queries(inputs[QUERY], training=training),
                self.embed_answers(inputs[ANSWER], training=training))

    def compute_loss(self, features, training=False):
        q, a = self(features, training=training)
        return self.task(q, a, candidate_ids=features.get(ANSWER_ID), compute_metrics=False,
                         compute_batch_metrics=False)

    def build_from_config(self, config):
        # Loading a saved model: create the weights by calling on raw text.
        if not self.built:
            self({QUERY: tf.constant([""]), ANSWER: tf.constant([""])}, training=False)

    # === Index ===
    def set_index(self, answer_ids, answers, documents=None, known_questions=(),
                  known_question_ids=()) -> None:
        """The FAQ to answer from.

        Args:
            answer_ids: one unique id per answer.
            answers: the texts returned.
            documents: the texts encoded for matching (default: ``answers``;
                e.g. canonical question + answer).
            known_questions: questions whose answer is known (e.g. the
                training questions); a new question close to one of them gets
                its answer. Optional.
            known_question_ids: the answer id of each known question.
        """
        answer_ids = [str(a) for a in answer_ids]
        answers = [str(a) for a in answers]
        documents = None if documents is None else [str(d) for d in documents]
        known_questions = [str(q) for q in known_questions]
        known_question_ids = [str(i) for i in known_question_ids]
        # Validate first: a rejected index leaves the current one in place.
        if len(answers) != len(answer_ids) or (documents is not None and len(documents) != len(answers)):
            raise ValueError("answer_ids, answers and documents must have the same length")
        if len(set(answer_ids)) != len(answer_ids):
            raise ValueError("answer ids must be unique")
        if len(known_questions) != len(known_question_ids):
            raise ValueError("known_questions and known_question_ids must have the same length")
        unknown = set(known_question_ids) - set(answer_ids)
        if unknown:
            raise ValueError(f"known questions point at unknown answer ids, e.g. {sorted(unknown)[:3]}")
        self.answer_ids, self.answers, self.documents = answer_ids, answers, documents
        self.known_questions, self.known_question_ids = known_questions, known_question_ids

    @property
    def indexed_texts(self) -> list[str]:
        return self.documents if self.documents is not None else self.answers

    def index_embeddings(self, batch_size: int = 512) -> np.ndarray:
        """``[n_answers, embedding_dim]`` embeddings of the indexed documents."""
        if not self.answer_ids:
            raise ValueError("no index: call set_index(answer_ids, answers) first")
        return _embed(self, "answer", self.indexed_texts, batch_size)

    def index_keys(self, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(keys [n_keys, d], answer index [n_keys])``: documents, then known questions."""
        keys = self.index_embeddings(batch_size)
        owner = np.arange(len(self.answer_ids))
        if self.known_questions:
            position = {a: i for i, a in enumerate(self.answer_ids)}
            keys = np.concatenate([keys, self.query_embeddings(self.known_questions, batch_size)])
            owner = np.concatenate([owner, [position[i] for i in self.known_question_ids]])
        return keys, owner.astype(np.int32)

    def query_embeddings(self, texts, batch_size: int = 512) -> np.ndarray:
        return _embed(self, "query", texts, batch_size)

    def answer_scores(self, texts, batch_size: int = 512) -> np.ndarray:
        """``[n, n_answers]``: each answer's best key similarity to each question."""
        keys, owner = self.index_keys(batch_size)
        key_scores = self.query_embeddings(texts, batch_size) @ keys.T
        scores = np.full([key_scores.shape[0], len(self.answer_ids)], -np.inf, np.float32)
        for j in range(len(self.answer_ids)):
            scores[:, j] = key_scores[:, owner == j].max(axis=1)
        return scores

    def retrieve(self, texts, k: int | None = None, batch_size: int = 512) -> dict[str, np.ndarray]:
        """The top ``k`` answers of each question, by cosine similarity.

        Returns:
            ``{"answer_id" [n, k], "answer" [n, k], "score" [n, k],
            "no_answer" [n]}``; ``no_answer`` is True when the best score is
            below ``threshold``.
        """
        k = min(k or self.top_k, len(self.answer_ids))
        scores = self.answer_scores(texts, batch_size)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        return {
            "answer_id": np.array(self.answer_ids)[top],
            "answer": np.array(self.answers)[top],
            "score": top_scores,
            "no_answer": top_scores[:, 0] < self.threshold,
        }

    def calibrate(self, texts, answer_ids, unanswerable_texts=None, *, accept_rate: float = 0.95) -> float:
        """Sets ``threshold`` on the top score from validation questions.

        With questions that have no answer in the FAQ, the threshold
        maximizes (right answer first and accepted) + (unanswerable
        rejected); without, it accepts ``accept_rate`` of answerable ones.
        """
        top = self.retrieve(texts, k=1)
        correct = top["answer_id"][:, 0] == np.asarray(answer_ids, dtype=str)
        out = None
        if unanswerable_texts is not None and len(unanswerable_texts):
            out = self.retrieve(unanswerable_texts, k=1)["score"][:, 0]
        self.threshold = text_metrics.choose_threshold(top["score"][:, 0], correct, out, accept_rate)
        return self.threshold

    def report(self, texts, answer_ids, ks=(1, 5)) -> dict[str, float]:
        """Recall@k and MRR of the right answer id over the index."""
        ranked = self.retrieve(texts, k=len(self.answer_ids))["answer_id"]
        out = {f"recall@{k}": text_metrics.recall_at_k(ranked, answer_ids, k) for k in ks}
        out["mrr"] = text_metrics.mean_reciprocal_rank(ranked, answer_ids)
        return out

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "query_encoder": tf.keras.layers.serialize(self.query_encoder),
            "answer_encoder": None if self.shared_encoder else tf.keras.layers.serialize(self.answer_encoder),
            "embedding_dim": self.embedding_dim,
            "temperature": self.temperature,
            "answer_ids": self.answer_ids,
            "answers": self.answers,
            "documents": self.documents,
            "known_questions": self.known_questions,
            "known_question_ids": self.known_question_ids,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "projection_initializer": self.projection_initializer,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def make_pairs(questions, answers, answer_ids=None) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``{"query", "answer", "answer_id"}`` training pairs."""
    questions = np.asarray(questions, dtype=str).reshape(-1)
    answers = np.asarray(answers, dtype=str).reshape(-1)
    ids = answers if answer_ids is None else np.asarray(answer_ids, dtype=str).reshape(-1)
    if not len(questions) == len(answers) == len(ids):
        raise ValueError("questions, answers and answer_ids must have the same length")
    return tf.data.Dataset.from_tensor_slices({QUERY: questions, ANSWER: answers, ANSWER_ID: ids})


_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _embed(model, tower: str, texts, batch_size: int) -> np.ndarray:
    # Traced once per model and tower, kept outside the model so it is not
    # tracked (and exported) as one of its attributes.
    fns = _FUNCTIONS.setdefault(model, {})
    if tower not in fns:
        embed = model.embed_queries if tower == "query" else model.embed_answers
        fns[tower] = tf.function(lambda t: embed(t, training=False),
                                 input_signature=[tf.TensorSpec([None], tf.string)])
    texts = np.asarray(texts, dtype=str).reshape(-1)
    out = [fns[tower](tf.constant(texts[i : i + batch_size])).numpy()
           for i in range(0, len(texts), batch_size)]
    return np.concatenate(out) if out else np.zeros([0, model.embedding_dim], np.float32)
