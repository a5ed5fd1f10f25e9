from django.conf import settings


def site(request):
    return {"QUICK_EXIT_URL": settings.QUICK_EXIT_URL, "DEBUG": settings.DEBUG}
