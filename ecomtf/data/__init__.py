"""Schemas, readers with validation, sessions, sequences, splits and tf.data pipelines."""

from ecomtf.data.event_log import EventLog
from ecomtf.data.event_reader import iter_event_chunks
from ecomtf.data.event_reader import read_events
from ecomtf.data.event_reader import sniff_delimiter
from ecomtf.data.pipeline import dataset_options
from ecomtf.data.pipeline import make_dataset
from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import CANONICAL_EVENT_TYPES
from ecomtf.data.schema import EventSchema
from ecomtf.data.schema import parse_mapping
from ecomtf.data.sequence_examples import SequenceExamples
from ecomtf.data.sequences import padded_sequences
from ecomtf.data.sequences import purchase_within_horizon_examples
from ecomtf.data.sequences import session_purchase_examples
from ecomtf.data.sessions import session_order
from ecomtf.data.sessions import sessionize
from ecomtf.data.splits import leave_last_out
from ecomtf.data.splits import random_split
from ecomtf.data.splits import stratified_split
from ecomtf.data.splits import temporal_split
from ecomtf.data.timestamps import parse_timestamps
from ecomtf.data.timestamps import parse_timestamps_arrow
from ecomtf.data.vocabulary import build_vocabulary
