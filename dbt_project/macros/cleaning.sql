{#-
  Amount text as the source sends it ("$1,234.56", "USD 1,234.56", "1,234.56 USD", "€1,234.56",
  "£ 1,234.56", "1234.5") to DECIMAL(18,2). Currency words, symbols, spaces and thousands
  separators are stripped; anything else that does not parse ("N/A", "", "TBD") is NULL.
-#}
{% macro parse_amount(column) -%}
    try_cast(
        nullif(regexp_replace(trim({{ column }}), '[^0-9.\-]', '', 'g'), '')
        as decimal(18, 2)
    )
{%- endmacro %}

{#- Every spelling of each canonical order status the source uses (lower-cased, trimmed). -#}
{% macro status_variants() -%}
    {{ return({
        'pending': ['pending', 'awaiting payment'],
        'processing': ['processing', 'in progress'],
        'shipped': ['shipped'],
        'delivered': ['delivered', 'complete', 'completed'],
        'cancelled': ['cancelled', 'canceled'],
        'returned': ['returned', 'refunded'],
    }) }}
{%- endmacro %}

{#- A status variant to its canonical value; an unknown spelling gives NULL (a failing test). -#}
{% macro standardize_status(column) -%}
    case lower(trim({{ column }}))
    {%- for canonical, variants in status_variants().items() %}
        {%- for variant in variants %}
        when '{{ variant }}' then '{{ canonical }}'
        {%- endfor %}
    {%- endfor %}
    end
{%- endmacro %}
