import asyncio
import time

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.db import connection
from django.db.utils import OperationalError
from django.http import HttpResponse, JsonResponse


def ok(request, **kwargs):
    return HttpResponse("ok")


def order(request, pk):
    return JsonResponse({"order": pk})


def sleep(request, ms):
    time.sleep(min(ms, 3000) / 1000)
    return HttpResponse("slept")


async def async_sleep(request, ms):
    await asyncio.sleep(min(ms, 3000) / 1000)
    return HttpResponse("slept")


def database_down(request):
    raise OperationalError("the database went away")


def bad_value(request):
    raise ValueError("bad value")


async def async_bad_value(request):
    raise ValueError("bad value, awaited")


def query(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("queried")


def status(request, code):
    return HttpResponse(status=code)


def sign_in(request, name):
    """Signs in as `name` (made on first use) and answers the user's id."""
    user, _ = User.objects.get_or_create(username=name)
    login(request, user)
    return HttpResponse(str(user.pk))
