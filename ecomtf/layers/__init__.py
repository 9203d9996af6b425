"""Reusable Keras layers, one class per file."""

from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
from ecomtf.layers.behavior_sequence_encoder import BehaviorSequenceEncoder
from ecomtf.layers.categorical_embedding import CategoricalEmbedding
from ecomtf.layers.numeric_normalizer import NumericNormalizer
from ecomtf.layers.sequence_packer import SequencePacker
from ecomtf.layers.calendar_features import CalendarFeatures
from ecomtf.layers.candidate_tower import CandidateTower
from ecomtf.layers.causal_self_attention_encoder import CausalSelfAttentionEncoder
from ecomtf.layers.gap_filler import GapFiller
from ecomtf.layers.item_text_encoder import ItemTextEncoder
from ecomtf.layers.quantile_head import QuantileHead
from ecomtf.layers.query_tower import QueryTower
from ecomtf.layers.recurrent_sequence_encoder import RecurrentSequenceEncoder
from ecomtf.layers.seasonal_lag_features import SeasonalLagFeatures
from ecomtf.layers.series_scaler import SeriesScaler
from ecomtf.layers.timestamp_encoder import TimestampEncoder
from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
from ecomtf.layers.pretrained_text_encoder import PretrainedTextEncoder
from ecomtf.layers.text_normalizer import TextNormalizer
from ecomtf.layers.transformer_encoder_block import TransformerEncoderBlock
from ecomtf.layers.transformer_text_encoder import TransformerTextEncoder
from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer
from ecomtf.layers.prefix_counts import PrefixCounts
from ecomtf.layers.repeat_pointer import RepeatPointer
