from django.urls import path

from djsite import views

urlpatterns = [
    path("", views.home),
    path("me", views.me),
    path("recommendations", views.recommendations),
]
