from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.demo_shop, name="demo-shop"),
]
