{#- Order lines with their quantity and unit price; order_date lets marts read one range. -#}
select
    order_id,
    product_id,
    quantity,
    unit_price,
    cast(quantity * unit_price as decimal(18, 2)) as line_amount,
    order_date
from {{ source('raw', 'order_items') }}
