from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def demo_shop(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/shop.html", {})
