from django.urls import path

from benchmarks.receiver_support.views import OurReceiver, hand_written

urlpatterns = [
    path("ours/", OurReceiver.as_view()),
    path("hand/", hand_written),
]
