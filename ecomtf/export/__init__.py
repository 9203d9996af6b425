"""SavedModel export in TF Serving layout; TFLite conversion with parity checks."""

from ecomtf.export.ops import check_serving_ops
from ecomtf.export.ops import saved_model_ops
from ecomtf.export.saved_model import existing_versions
from ecomtf.export.saved_model import save_for_serving
from ecomtf.export.servable import Servable
from ecomtf.export.servable import as_servable
from ecomtf.export.servable import call_signature
from ecomtf.export.servable import dict_signature
from ecomtf.export.servable import register_servable
from ecomtf.export.servable import signature_input_specs
from ecomtf.export.tflite import check_tflite_parity
from ecomtf.export.tflite import custom_ops
from ecomtf.export.tflite import litert_interpreter
from ecomtf.export.tflite import run_tflite
from ecomtf.export.tflite import to_tflite
from ecomtf.export.verify import run_calls_in_fresh_process
from ecomtf.export.verify import run_in_fresh_process
from ecomtf.export.warmup import read_warmup
from ecomtf.export.warmup import write_warmup
from ecomtf.export.purchase_predictor_servable import PurchasePredictorServable
from ecomtf.export.answer_retriever_servable import AnswerRetrieverServable
from ecomtf.export.intent_classifier_servable import IntentClassifierServable
from ecomtf.export.next_item_servable import NextItemServable
from ecomtf.export.sales_forecaster_servable import SalesForecasterServable
from ecomtf.export.two_tower_servable import TwoTowerServable
