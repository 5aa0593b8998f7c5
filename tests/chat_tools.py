"Two small typed, documented tools the server tests offer (shared by test_fuzz_server.py and test_openai_client.py)."
from toolcall_lab.formats import as_tools


def get_weather(city: str):
    """Get the current weather for a city.

    Args:
        city: City name
    """


def get_time(zone: str):
    """Get the time in a time zone.

    Args:
        zone: IANA zone name
    """


TOOLS = as_tools([get_weather, get_time])
