/** WeChat 卡包's card colours as the card face shows them: those the API takes (`^Color0[1-9][0-9]$`). */
export const CARD_COLOURS: Record<string, string> = {
  Color010: "#63b359",
  Color020: "#2c9f67",
  Color030: "#509fc9",
  Color040: "#5885cf",
  Color050: "#9062c0",
  Color060: "#d09a45",
  Color070: "#e4b138",
  Color080: "#ee903c",
  Color081: "#f08500",
  Color082: "#a9d92d",
  Color090: "#dd6549",
};
