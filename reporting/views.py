from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def start(request):
    return render(request, "reporting/start.html")


def staying_safe(request):
    return render(request, "reporting/staying_safe.html")


def help_lines(request):
    return render(request, "reporting/help.html")


# Quick exit sends this with navigator.sendBeacon as the page is replaced. It
# only ever destroys the caller's own session, so a forged request can do no
# more than sign someone out; CSRF protection would make it fail exactly when
# a frightened family needs it.
@csrf_exempt
@require_POST
def quick_exit(request):
    request.session.flush()
    return HttpResponse(status=204)
