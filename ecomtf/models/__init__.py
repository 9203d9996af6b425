"""End-to-end models, one file each."""

from ecomtf.models.answer_retriever import AnswerRetriever
from ecomtf.models.intent_classifier import IntentClassifier
from ecomtf.models.intent_ensemble import IntentEnsemble
from ecomtf.models.intent_model import IntentModel
from ecomtf.models.item2vec import Item2Vec
from ecomtf.models.next_item_recommender import NextItemRecommender
from ecomtf.models.purchase_predictor import PurchasePredictor
from ecomtf.models.sales_forecaster import SalesForecaster
from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble
from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval
