from django import forms

from helpdesk.models import Site


class ImportForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.order_by("id"), empty_label=None)
    file = forms.FileField(
        help_text="UTF-8 CSV with the columns question,answer,alternatives; alternatives "
        "separated by ' | '. Entries are matched by question: existing ones are updated."
    )


class PlaygroundForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.order_by("id"), empty_label=None)
    q = forms.CharField(
        label="Question",
        max_length=4000,
        widget=forms.TextInput(attrs={"size": 80, "autofocus": True, "autocomplete": "off"}),
    )
